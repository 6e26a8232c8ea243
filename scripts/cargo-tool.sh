# Sourced by scripts that need a tool from crates.io: `cargo_tool NAME VERSION [cargo install
# flags...]` installs it once, pinned and with its lock file, into .tools/NAME-VERSION/ and
# prints the binary's path. Debug builds: these tools compile in half the time and run fast
# enough for what the scripts ask of them.
cargo_tool() {
    local name="$1" version="$2"
    shift 2
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/$name-$version"
    if [[ ! -x "$root/bin/$name" ]]; then
        echo "installing $name $version (once; cached in .tools/)" >&2
        # `|| return`: callers run this in $(...), where bash does not apply `set -e`.
        cargo install "$name" --version "$version" --locked --debug --quiet --root "$root" "$@" >&2 || return 1
    fi
    echo "$root/bin/$name"
}
