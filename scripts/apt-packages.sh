# shellcheck shell=bash
# Sourced by the *-env.sh scripts: `apt_install_missing WHO PACKAGE[=VERSION]...` installs,
# through Debian's apt, the packages that dpkg does not list as installed (as root, or with
# sudo), naming WHO in its message. Nothing happens, and nothing is fetched, when all are in.
apt_install_missing() {
    local who="$1"
    shift
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "${package%%=*}" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    echo "$who: installing ${missing[*]}" >&2
    local sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
