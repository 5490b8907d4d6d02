//! `GET /security`: the repository's SECURITY.md (the threat model the page links to) as an
//! HTML page with `charset=utf-8`, rendered by `pulldown-cmark` from the text compiled into the
//! binary, so the page, the node and the document always agree and nothing is read from disk.
//!
//! It is a page of the web interface, not of the API: outside `/v1`, not in the OpenAPI document
//! (as the page's static files), public like them (no sign-in: it says what the node can read).
//! The page opens it in a new tab, so going back never loses the key or the loaded data.

use std::sync::OnceLock;

use actix_web::{get, http::header, HttpResponse};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

/// SECURITY.md at build time (the repository root's copy; the page links to this route).
const SECURITY_MD: &str = include_str!("../../../../../SECURITY.md");

/// SECURITY.md as a whole HTML document (rendered once, on first request).
pub fn document() -> &'static str {
    static RENDERED: OnceLock<String> = OnceLock::new();
    RENDERED.get_or_init(|| render(SECURITY_MD, "MORE · Security"))
}

/// `markdown` (CommonMark with tables, footnotes, strikethrough and heading ids) as a
/// standalone UTF-8 HTML document titled `title`, styled by the page's `/style.css`.
pub fn render(markdown: &str, title: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let mut body = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(
        &mut body,
        with_heading_ids(Parser::new_ext(markdown, options)),
    );
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body class=\"document\">\n<main class=\"document\">\n{body}</main>\n</body>\n</html>\n"
    )
}

/// `events` with an `id` on every heading that has none, as GitHub makes them (lower case,
/// spaces to `-`, punctuation dropped, `-1`, `-2`… on repeats), so the document's
/// `[…](#secure-mode-…)` links reach their sections.
fn with_heading_ids<'a>(events: impl Iterator<Item = Event<'a>>) -> std::vec::IntoIter<Event<'a>> {
    let mut events: Vec<Event<'a>> = events.collect();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for start in 0..events.len() {
        let Event::Start(Tag::Heading { id: None, .. }) = &events[start] else {
            continue;
        };
        let text: String = events[start + 1..]
            .iter()
            .take_while(|e| !matches!(e, Event::End(TagEnd::Heading(_))))
            .filter_map(|e| match e {
                Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        let mut slug: String = text
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        if *count > 0 {
            slug = format!("{slug}-{count}");
        }
        *count += 1;
        if let Event::Start(Tag::Heading { id, .. }) = &mut events[start] {
            *id = Some(CowStr::from(slug));
        }
    }
    events.into_iter()
}

/// SECURITY.md as HTML (`text/html; charset=utf-8`).
#[get("/security")]
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utf8_headings_and_tables() {
        let html = render("# Sécurité — 2²\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "t");
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(
            html.contains("<h1 id=\"sécurité--2²\">Sécurité — 2²</h1>"),
            "{html}"
        );
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn the_document_is_security_md() {
        let html = document();
        assert!(
            html.contains("<h2 id=\"threat-model\">Threat model</h2>"),
            "no threat model heading"
        );
        // Every in-document link reaches a heading.
        for link in html.split("href=\"#").skip(1) {
            let anchor = &link[..link.find('"').unwrap()];
            assert!(
                html.contains(&format!(" id=\"{anchor}\"")),
                "no heading #{anchor}"
            );
        }
        assert!(!html.contains("**Summary"), "Markdown left unrendered");
    }
}
