//! The page itself: HTML, CSS, JavaScript and the word list, embedded in the
//! binary at build time and served from here — a port's review room has no
//! internet, and an upgrade replaces page and server together.
//!
//! Every page path (`/`, `/passage/...`, `/wall`, ...) answers with the same
//! `index.html`; the script shows the view the path names, so each passage
//! has its own URL. Assets carry an ETag and are revalidated, never stale.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset { name: "desk.css", mime: "text/css; charset=utf-8", body: include_str!("assets/desk.css") },
    Asset { name: "words.json", mime: "application/json", body: include_str!("assets/words.json") },
    Asset { name: "icon.svg", mime: "image/svg+xml", body: include_str!("assets/icon.svg") },
    Asset { name: "app.js", mime: "text/javascript; charset=utf-8", body: include_str!("assets/app.js") },
    Asset { name: "queue.js", mime: "text/javascript; charset=utf-8", body: include_str!("assets/queue.js") },
    Asset { name: "item.js", mime: "text/javascript; charset=utf-8", body: include_str!("assets/item.js") },
    Asset {
        name: "evidence.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/evidence.js"),
    },
    Asset {
        name: "viewer.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/viewer.js"),
    },
    Asset { name: "views.js", mime: "text/javascript; charset=utf-8", body: include_str!("assets/views.js") },
    Asset { name: "forms.js", mime: "text/javascript; charset=utf-8", body: include_str!("assets/forms.js") },
    Asset { name: "login.js", mime: "text/javascript; charset=utf-8", body: include_str!("assets/login.js") },
];

const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");

fn etags() -> &'static BTreeMap<&'static str, String> {
    static TAGS: OnceLock<BTreeMap<&'static str, String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| (a.name, format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..20])))
            .collect()
    })
}

/// `GET /assets/{file}`
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let tag = &etags()[a.name];
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, a.mime.to_string()),
            (header::ETAG, tag.clone()),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        a.body,
    )
        .into_response()
}

pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

pub async fn login() -> Html<&'static str> {
    Html(LOGIN)
}

fn words() -> &'static Value {
    static WORDS: OnceLock<Value> = OnceLock::new();
    WORDS.get_or_init(|| serde_json::from_str(include_str!("assets/words.json")).expect("words.json is JSON"))
}

/// The word for `key` in `lang` (`zh-CN` or `en`), English when that
/// language lacks it, `None` when neither has it.
pub fn lookup(lang: &str, key: &str) -> Option<String> {
    let w = words();
    w[lang][key].as_str().or_else(|| w["en"][key].as_str()).map(str::to_string)
}

/// [`lookup`], or the key itself.
pub fn word(lang: &str, key: &str) -> String {
    lookup(lang, key).unwrap_or_else(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_words() {
        let w = words();
        let en = w["en"].as_object().unwrap();
        let zh = w["zh-CN"].as_object().unwrap();
        let missing: Vec<&String> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        let extra: Vec<&String> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "zh-CN lacks {missing:?}, has extra {extra:?}");
        assert_eq!(word("zh-CN", "reason.low_confidence"), zh["reason.low_confidence"].as_str().unwrap());
        assert_eq!(word("en", "no.such.word"), "no.such.word");
    }

    #[test]
    fn the_pages_load_only_what_is_embedded() {
        for page in [INDEX, LOGIN] {
            for src in page.split("src=\"").skip(1).chain(page.split("href=\"").skip(1)) {
                let url = src.split('"').next().unwrap();
                assert!(!url.contains("//"), "nothing from elsewhere: {url}");
                if let Some(name) = url.strip_prefix("/assets/") {
                    assert!(ASSETS.iter().any(|a| a.name == name), "{name} is not embedded");
                }
            }
            assert!(!page.contains("<script>"), "no inline script (the CSP forbids it)");
        }
    }
}
