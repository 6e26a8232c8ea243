//! `GET /docs`: the server's OpenAPI document rendered on the server as one HTML page, with
//! nothing fetched from anywhere: each route's summary, parameters, request body and responses
//! with their schemas, and an example to copy (a `curl` command, and the answer where the
//! document gives one). The page works without scripts; one inline line only puts the page's
//! own address into the examples.

use std::fmt::Write;

use serde_json::Value;

/// The HTTP methods a path item may hold, in the order a page lists them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The whole page for the OpenAPI 3.0 document `spec`; `origin` (such as
/// `http://127.0.0.1:8080`) starts the examples' URLs until the page's script puts its own,
/// and `answers` holds an example answer (JSON text) for some paths.
pub(crate) fn render(spec: &Value, origin: &str, answers: &[(&str, String)]) -> String {
    let title = spec["info"]["title"].as_str().unwrap_or("API");
    let mut operations = Vec::new();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    operations.push((path.as_str(), method, operation));
                }
            }
        }
    }
    // The prediction routes first, then the operations routes, then the protocol's.
    operations.sort_by_key(|(path, _, _)| {
        (
            if path.starts_with("/predict") {
                0
            } else if path.starts_with("/v2") {
                2
            } else {
                1
            },
            *path,
        )
    });
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n{icon}\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>{title}</h1><span class=\"muted\">version {version}</span>\
         <nav><a href=\"/\">demo page</a> · <a href=\"/openapi.json\">openapi.json</a></nav></header>\n\
         <p>{description}</p>\n",
        title = escape(title),
        icon = super::pages::FAVICON_LINK,
        version = escape(spec["info"]["version"].as_str().unwrap_or_default()),
        description = inline(spec["info"]["description"].as_str().unwrap_or_default()),
    );
    if spec["security"].as_array().is_some_and(|schemes| !schemes.is_empty()) {
        page.push_str(
            "<p class=\"note\">This server requires an API key: send <code>Authorization: Bearer KEY</code> or \
             <code>X-API-Key: KEY</code> (the examples read it from <code>$API_KEY</code>). Routes marked \
             <span class=\"open\">open</span> need none.</p>\n",
        );
    }
    page.push_str("<nav class=\"toc\"><ul>\n");
    for (path, method, operation) in &operations {
        let _ = writeln!(
            page,
            "<li><a href=\"#{anchor}\"><span class=\"method {method}\">{method}</span> <code>{path}</code></a> {summary}</li>",
            anchor = anchor(method, path),
            path = escape(path),
            summary = inline(operation["summary"].as_str().unwrap_or_default()),
        );
    }
    page.push_str("</ul></nav>\n");
    for (path, method, operation) in &operations {
        let answer = answers.iter().find(|(answered, _)| answered == path).map(|(_, answer)| answer.as_str());
        page.push_str(&render_operation(spec, (path, method, operation), origin, answer));
    }
    if let Some(schemas) = spec["components"]["schemas"].as_object() {
        page.push_str("<h2>Schemas</h2>\n");
        for (name, schema) in schemas {
            let _ = writeln!(
                page,
                "<section class=\"schema\" id=\"schema-{id}\"><h3>{name}</h3>{body}</section>",
                id = escape(name),
                name = escape(name),
                body = render_schema(schema),
            );
        }
    }
    let _ = write!(
        page,
        "<script>for (const origin of document.querySelectorAll(\".origin\")) origin.textContent = location.origin;</script>\n\
         </body>\n</html>\n"
    );
    page
}

/// One route: its method and path, summary, description, parameters, body, responses and
/// examples (a `curl` command, then `answer` or else the document's example of a 200).
fn render_operation(spec: &Value, route: (&str, &str, &Value), origin: &str, answer: Option<&str>) -> String {
    let (path, method, operation) = route;
    let open = operation["security"].as_array().is_some_and(Vec::is_empty)
        && spec["security"].as_array().is_some_and(|schemes| !schemes.is_empty());
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<section class=\"operation\" id=\"{anchor}\">\n<h2><span class=\"method {method}\">{method}</span> <code>{path}</code>{open}</h2>\n<p>{summary}</p>",
        anchor = anchor(method, path),
        path = escape(path),
        open = if open { " <span class=\"open\">open</span>" } else { "" },
        summary = inline(operation["summary"].as_str().unwrap_or_default()),
    );
    if let Some(description) = operation["description"].as_str() {
        let _ = writeln!(html, "<p>{}</p>", inline(description));
    }
    if let Some(parameters) = operation["parameters"].as_array().filter(|parameters| !parameters.is_empty()) {
        html.push_str("<h4>Parameters</h4>\n<ul>\n");
        for parameter in parameters {
            let _ = writeln!(
                html,
                "<li><code>{name}</code> <span class=\"muted\">in {place}</span> {schema} {description}</li>",
                name = escape(parameter["name"].as_str().unwrap_or_default()),
                place = escape(parameter["in"].as_str().unwrap_or_default()),
                schema = render_schema(&parameter["schema"]),
                description = inline(parameter["description"].as_str().unwrap_or_default()),
            );
        }
        html.push_str("</ul>\n");
    }
    if let Some(content) = operation["requestBody"]["content"].as_object() {
        html.push_str("<h4>Request body</h4>\n");
        for (media_type, body) in content {
            let _ = writeln!(
                html,
                "<div class=\"media\"><code>{}</code> {}</div>",
                escape(media_type),
                render_schema(&body["schema"])
            );
        }
    }
    if let Some(responses) = operation["responses"].as_object() {
        html.push_str("<h4>Responses</h4>\n<table>\n");
        for (status, response) in responses {
            let mut schemas = String::new();
            for (media_type, body) in response["content"].as_object().into_iter().flatten() {
                let _ = write!(
                    schemas,
                    "<div><code>{}</code> {}</div>",
                    escape(media_type),
                    render_schema(&body["schema"])
                );
            }
            let _ = writeln!(
                html,
                "<tr><td class=\"status s{class}\">{status}</td><td>{description}{schemas}</td></tr>",
                class = status.chars().next().unwrap_or('0'),
                status = escape(status),
                description = inline(response["description"].as_str().unwrap_or_default()),
            );
        }
        html.push_str("</table>\n");
    }
    let _ = writeln!(html, "<h4>Example</h4>\n<pre>{}</pre>", curl(spec, path, method, operation, origin, open));
    let documented = operation["responses"]["200"]["content"]["application/json"]
        .get("example")
        .map(|example| serde_json::to_string_pretty(example).unwrap_or_default());
    if let Some(answer) = answer.map(str::to_string).or(documented) {
        let _ = writeln!(html, "<p class=\"muted\">answers, for example:</p>\n<pre>{}</pre>", escape(&answer));
    }
    html.push_str("</section>\n");
    html
}

/// A `curl` command that calls the route: path parameters filled in with their only allowed
/// value, the body the route takes first (a file for multipart, the document's example for
/// JSON), the API key when one is needed, and `-o` for an image answer. HTML-escaped, with the
/// origin in a `<span class="origin">` the page's script replaces.
fn curl(spec: &Value, path: &str, method: &str, operation: &Value, origin: &str, open: bool) -> String {
    let mut filled = path.to_string();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap_or_default();
        if let Some(value) = parameter["schema"]["enum"][0].as_str() {
            filled = filled.replace(&format!("{{{name}}}"), value);
        }
    }
    let mut arguments = Vec::new();
    if method != "get" {
        arguments.push(format!("-X {}", method.to_uppercase()));
    }
    let secured = spec["security"].as_array().is_some_and(|schemes| !schemes.is_empty()) && !open;
    if secured {
        arguments.push("-H \"Authorization: Bearer $API_KEY\"".to_string());
    }
    let content = &operation["requestBody"]["content"];
    if let Some(multipart) = content.get("multipart/form-data") {
        arguments.retain(|argument| argument != "-X POST");
        let file = &multipart["schema"]["properties"]["file"];
        if file["type"] == "array" {
            arguments.push("-F file=@first.jpg -F file=@second.jpg".to_string());
        } else {
            arguments.push(format!("-F file=@{}", file["x-example-file"].as_str().unwrap_or("photo.jpg")));
        }
    } else if let Some(json) = content.get("application/json") {
        arguments.push("-H 'Content-Type: application/json'".to_string());
        match json.get("example") {
            Some(example) => arguments.push(format!("-d '{example}'")),
            None => arguments.push("-d @request.json".to_string()),
        }
    }
    if operation["responses"]["200"]["content"].get("image/png").is_some() {
        arguments.push("-o answer.png".to_string());
    }
    if operation["responses"]["200"]["content"].get("text/event-stream").is_some() {
        // Events print as they come rather than when curl's buffer fills.
        arguments.insert(0, "-N".to_string());
    }
    let mut command = String::from("curl");
    for argument in arguments {
        command.push(' ');
        command.push_str(&escape(&argument));
    }
    format!("{command} <span class=\"origin\">{}</span>{}", escape(origin), escape(&filled))
}

/// A schema as nested HTML: a `$ref` as a link to its section, an object as a list of its
/// properties (required ones marked), an array as `array of` its items, and a plain type
/// with its format, allowed values and description.
fn render_schema(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a class=\"type\" href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    let kind = schema["type"].as_str();
    let mut html = match kind {
        Some("array") => format!("<span class=\"type\">array of</span> {}", render_schema(&schema["items"])),
        Some(kind) => {
            let mut text = format!("<span class=\"type\">{}", escape(kind));
            if let Some(format) = schema["format"].as_str() {
                let _ = write!(text, " ({})", escape(format));
            }
            text.push_str("</span>");
            text
        }
        None => "<span class=\"type\">any</span>".to_string(),
    };
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> =
            values.iter().map(|value| format!("<code>{}</code>", escape(&value.to_string()))).collect();
        let _ = write!(html, " one of {}", values.join(", "));
    }
    if let Some(minimum) = schema["minimum"].as_i64() {
        let _ = write!(html, " ≥ {minimum}");
    }
    if let Some(description) = schema["description"].as_str() {
        let _ = write!(html, " <span class=\"muted\">{}</span>", inline(description));
    }
    if let Some(properties) = schema["properties"].as_object() {
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        html.push_str("<ul>");
        for (name, property) in properties {
            let mark = if required.contains(&name.as_str()) { " <span class=\"required\">required</span>" } else { "" };
            let _ = write!(html, "<li><code>{}</code>{mark} {}</li>", escape(name), render_schema(property));
        }
        html.push_str("</ul>");
    }
    html
}

/// An id for a route's section: `post-predict-batch`, `get-v2-models-name`.
fn anchor(method: &str, path: &str) -> String {
    let words: Vec<&str> = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty()).collect();
    format!("{method}-{}", words.join("-"))
}

/// Text with the document's one piece of Markdown, `code` spans, as HTML.
fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(index, part)| if index % 2 == 1 { format!("<code>{}</code>", escape(part)) } else { escape(part) })
        .collect()
}

/// `text` safe inside HTML elements and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const STYLE: &str = "
  body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 62rem; padding: 0 1rem; color: #222; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  header nav { margin-left: auto; }
  h1 { font-size: 1.5rem; margin: 0; } h2 { font-size: 1.1rem; margin: 0 0 .3rem; } h3 { font-size: 1rem; margin: 0 0 .3rem; }
  h4 { font-size: .85rem; text-transform: uppercase; letter-spacing: .04em; color: #555; margin: .8rem 0 .3rem; }
  .toc ul { list-style: none; padding: 0; columns: 2 24rem; } .toc li { margin: .15rem 0; } .toc a { text-decoration: none; }
  .operation, .schema { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: .8rem 1rem; }
  .method { display: inline-block; min-width: 3.2rem; font-weight: 700; text-transform: uppercase; font-size: .8rem; }
  .get { color: #0b6e4f; } .post { color: #1d4ed8; }
  code { background: #f6f8fa; padding: 0 .25rem; border-radius: 3px; }
  pre { background: #f6f8fa; padding: .6rem .8rem; overflow: auto; font-size: 13px; margin: .3rem 0; white-space: pre-wrap; }
  ul { margin: .2rem 0; padding-left: 1.3rem; }
  table { border-collapse: collapse; width: 100%; } td { border-top: 1px solid #eee; padding: .25rem .5rem; vertical-align: top; }
  .status { font-weight: 700; width: 3rem; } .s2 { color: #0b6e4f; } .s4 { color: #b45309; } .s5 { color: #b00020; }
  .type { color: #6b21a8; } .required { color: #b00020; font-size: .8rem; } .muted { color: #666; }
  .open { font-size: .75rem; border: 1px solid #0b6e4f; color: #0b6e4f; border-radius: 3px; padding: 0 .3rem; }
  .note { background: #fff8e1; padding: .5rem .8rem; border-radius: 4px; }
";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn code_spans_become_code_and_everything_is_escaped() {
        assert_eq!(inline("the `x<y>` & `z`"), "the <code>x&lt;y&gt;</code> &amp; <code>z</code>");
        assert_eq!(escape("\"'"), "&quot;&#39;");
    }

    #[test]
    fn a_schema_lists_its_properties_marks_the_required_and_links_references() {
        let schema = json!({ "type": "object", "required": ["image"], "properties": {
            "image": { "type": "string", "format": "byte", "description": "base64 or a `data:` URL" },
            "sizes": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
            "result": { "$ref": "#/components/schemas/Prediction" } } });
        let html = render_schema(&schema);
        assert!(html.contains("<li><code>image</code> <span class=\"required\">required</span> <span class=\"type\">string (byte)</span>"), "{html}");
        assert!(html.contains("base64 or a <code>data:</code> URL"), "{html}");
        assert!(
            html.contains(
                "<code>sizes</code> <span class=\"type\">array of</span> <span class=\"type\">integer</span> ≥ 0"
            ),
            "{html}"
        );
        assert!(html.contains("<a class=\"type\" href=\"#schema-Prediction\">Prediction</a>"), "{html}");
    }

    #[test]
    fn an_example_fills_the_path_sends_the_body_and_the_key() {
        let spec = json!({ "security": [{ "bearer": [] }] });
        let operation = json!({
            "parameters": [{ "name": "name", "in": "path", "schema": { "type": "string", "enum": ["people"] } }],
            "requestBody": { "content": { "application/json": { "example": { "inputs": [] } } } },
        });
        assert_eq!(
            curl(&spec, "/v2/models/{name}/infer", "post", &operation, "http://h:1", false),
            "curl -X POST -H &quot;Authorization: Bearer $API_KEY&quot; -H &#39;Content-Type: application/json&#39; \
             -d &#39;{&quot;inputs&quot;:[]}&#39; <span class=\"origin\">http://h:1</span>/v2/models/people/infer"
        );
        let upload = json!({ "requestBody": { "content": { "multipart/form-data": { "schema": { "properties": {
            "file": { "type": "array" } } } } } }, "responses": { "200": { "content": { "image/png": {} } } } });
        assert_eq!(
            curl(&json!({}), "/predict/batch", "post", &upload, "<o>", true),
            "curl -F file=@first.jpg -F file=@second.jpg -o answer.png <span class=\"origin\">&lt;o&gt;</span>/predict/batch"
        );
    }
}
