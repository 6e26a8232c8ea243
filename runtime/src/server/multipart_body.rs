//! Test support, shared with the generated-project tests (`tests/generator/server.rs` includes
//! this file): a `multipart/form-data` body as browsers and `curl -F` send images.

/// `(Content-Type, body)` of a form with one `file` field per image, named `0.png`, `1.png`...
pub(crate) fn multipart(files: &[&[u8]]) -> (String, Vec<u8>) {
    let boundary = "inferx-test-boundary-7d1f";
    let mut body = Vec::new();
    for (index, file) in files.iter().enumerate() {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{index}.png\"\r\nContent-Type: image/png\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
