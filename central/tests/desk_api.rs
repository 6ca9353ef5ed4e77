//! The desk's server-side rules over HTTP, against `lane-central` on a real
//! PostgreSQL and Mosquitto: nothing without a login, CSRF on every change,
//! lockout and session expiry, API tokens; claims, roles and sites refused by
//! the server whatever a page shows; a decision signed onto the lane's `cmd`
//! topic and closed by the lane's ack; pre-declarations checked whole and
//! pushed to each lane.
//!
//! Held vehicles are written as ingest writes a verified decision (the rows),
//! so these tests need no lane; the browser test runs the real agents.

mod desk_http;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use contract::command::{Action, CommandVerifier};
use desk_http::{held, request, wait_until, Central};
use hil_tests::postgres::Postgres;
use hil_tests::{Mosquitto, Subscriber};
use serde_json::json;

#[test]
fn nothing_without_a_login_and_sessions_end() {
    let (pg, broker) = (Postgres::start(), Mosquitto::start());
    let c = Central::start(&pg.database("login"), broker.port, "lockout_after = 3\nlockout_for = \"10m\"");
    c.user("li", "reviewer", None);
    for path in ["/api/passages", "/api/desk/queue", "/api/lanes", "/api/desk/events", "/api/desk/images/00"]
    {
        assert_eq!(request(c.port, "GET", path, &[], b"").status, 401, "{path}");
    }
    let page = request(c.port, "GET", "/passage/A/G01/p%201", &[], b"");
    assert_eq!(page.status, 303);
    // The path goes into a query parameter, encoded once more; the login page decodes it.
    assert_eq!(page.header("location").unwrap(), "/login?next=/passage/A/G01/p%25201");
    for open in ["/login", "/assets/app.js", "/assets/words.json", "/healthz"] {
        assert_eq!(request(c.port, "GET", open, &[], b"").status, 200, "{open}");
    }
    let csp = request(c.port, "GET", "/login", &[], b"").header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");

    assert_eq!(c.login_with("li", "wrong").unwrap_err().status, 401);
    assert_eq!(c.login_with("nobody", "li-password-1").unwrap_err().status, 401, "same answer");
    let li = c.login("li");
    assert!(
        li.set_cookie.contains("HttpOnly") && li.set_cookie.contains("SameSite=Strict"),
        "{}",
        li.set_cookie
    );
    assert_eq!(li.get("/api/passages").status, 200);

    // Every change needs the CSRF token and, when the browser says, this origin.
    let change = li.send("PUT", "/api/desk/me", Some(json!({"language": "en"})), false);
    assert_eq!(change.status, 403, "{}", change.text());
    assert_eq!(li.send("PUT", "/api/desk/me", Some(json!({"language": "en"})), true).status, 200);
    let csrf = li.csrf.clone().unwrap();
    let cross = request(
        c.port,
        "PUT",
        "/api/desk/me",
        &[
            ("cookie", &li.cookie),
            ("x-csrf-token", &csrf),
            ("origin", "http://evil.example"),
            ("content-type", "application/json"),
        ],
        br#"{"language":"en"}"#,
    );
    assert_eq!(cross.status, 403);

    // Logout ends the session; an idle one ends by itself.
    assert_eq!(li.send("DELETE", "/api/desk/session", None, true).status, 200);
    assert_eq!(li.get("/api/desk/me").status, 401);
    let li = c.login("li");
    pg.psql("login", "UPDATE desk_sessions SET last_seen_at = now() - interval '31 minutes'");
    assert_eq!(li.get("/api/desk/me").status, 401, "idle longer than session_idle (30m)");

    // Three failures lock the account, even against the right password.
    for _ in 0..3 {
        assert!(c.login_with("li", "wrong").is_err());
    }
    let locked = c.login_with("li", "li-password-1").unwrap_err();
    assert_eq!(locked.status, 403);
    assert!(locked.text().contains("locked"), "{}", locked.text());
    let (ok, out) = c.cli(&["user", "set", "li", "--unlock"], "");
    assert!(ok, "{out}");
    c.login("li");
    let actions =
        pg.psql("login", "SELECT string_agg(action, ',' ORDER BY seq) FROM desk_audit WHERE actor = 'li'");
    assert!(actions.contains("login_failed,login_failed,lockout"), "{actions}");

    // Another system: a bearer token, no cookie and so no CSRF.
    let (ok, token) = c.cli(&["user", "token", "li", "--label", "erp"], "");
    assert!(ok, "{token}");
    let token =
        token.lines().find(|l| l.len() == 43 && !l.contains(' ')).expect("the token line").to_string();
    let mut api = c.login("li");
    api.bearer = Some(token);
    api.csrf = None;
    assert_eq!(api.get("/api/passages").status, 200);
    assert_eq!(api.send("PUT", "/api/desk/me", Some(json!({"language": "zh-CN"})), false).status, 200);
}

fn approved_verifier(c: &Central, site: &str, lane: &str) -> CommandVerifier {
    CommandVerifier {
        keys: BTreeMap::from([("central-1".to_string(), c.key.verifying_key())]),
        site: site.into(),
        lane: lane.into(),
        max_validity: chrono::Duration::minutes(10),
        skew: chrono::Duration::seconds(5),
    }
}

#[test]
fn claims_roles_and_sites_are_the_servers_and_a_decision_reaches_the_lane() {
    let (pg, broker) = (Postgres::start(), Mosquitto::start());
    let db = pg.database("claims");
    let c = Central::start(&db, broker.port, "");
    c.user("li", "reviewer", Some("A"));
    c.user("chen", "reviewer", None);
    c.user("zhao", "viewer", None);
    c.user("wang", "supervisor", None);
    held(&pg, "claims", "A", "G01", "A-G01-0001", "沪A12345");
    held(&pg, "claims", "B", "G01", "B-G01-0001", "沪B12345");
    let (li, chen, zhao, wang) = (c.login("li"), c.login("chen"), c.login("zhao"), c.login("wang"));

    let queue = li.get("/api/desk/queue").json();
    let passages: Vec<&str> =
        queue["items"].as_array().unwrap().iter().map(|i| i["passage"].as_str().unwrap()).collect();
    assert_eq!(passages, ["A-G01-0001"], "li sees site A only");
    assert_eq!(chen.get("/api/desk/queue").json()["items"].as_array().unwrap().len(), 2);
    assert_eq!(li.get("/api/desk/items/B/G01/B-G01-0001").status, 404, "another site's vehicle");

    let item = "/api/desk/items/A/G01/A-G01-0001";
    assert_eq!(li.post(&format!("{item}/claim"), json!({})).status, 200);
    let taken = chen.post(&format!("{item}/claim"), json!({}));
    assert_eq!((taken.status, taken.json()["error"].as_str().unwrap()), (409, "in review by li"));
    let given_up = chen.send("DELETE", &format!("{item}/claim"), None, true);
    assert_eq!(given_up.status, 409, "only li gives li's claim up: {}", given_up.text());
    assert_eq!(li.get(item).json()["item"]["claimed_by"], "li");
    let decide = json!({"outcome": "release", "reason": "images_clear"});
    assert_eq!(chen.post(&format!("{item}/decide"), decide.clone()).status, 409, "not chen's claim");
    assert_eq!(zhao.post(&format!("{item}/decide"), decide.clone()).status, 403, "a viewer");
    assert_eq!(zhao.post(&format!("{item}/claim"), json!({})).status, 403, "a viewer");
    let wrong_reason =
        li.post(&format!("{item}/decide"), json!({"outcome": "release", "reason": "seal_problem"}));
    assert_eq!(wrong_reason.status, 422, "{}", wrong_reason.text());
    // What axum's extractors refuse comes as JSON too, like every other refusal.
    let csrf = li.csrf.clone().unwrap();
    let headers =
        [("cookie", li.cookie.as_str()), ("x-csrf-token", &csrf), ("content-type", "application/json")];
    let garbled = request(li.port, "POST", &format!("{item}/decide"), &headers, b"{not json");
    assert_eq!(garbled.status, 400);
    assert!(garbled.json()["error"].as_str().unwrap().contains("JSON"), "{}", garbled.text());
    let nowhere = li.get("/api/desk/items/A/G01");
    assert_eq!((nowhere.status, nowhere.json()["error"].as_str()), (404, Some("not found")));

    // A supervisor takes over; li's next renewal is refused.
    assert_eq!(
        chen.post(&format!("{item}/claim"), json!({"takeover": true})).status,
        403,
        "only supervisors"
    );
    assert_eq!(wang.post(&format!("{item}/claim"), json!({"takeover": true})).status, 200);
    assert_eq!(li.post(&format!("{item}/claim"), json!({})).status, 409);
    let takeover = pg.psql("claims", "SELECT detail->>'from' FROM desk_audit WHERE action = 'takeover'");
    assert_eq!(takeover, "li");
    // A lease nobody renews lapses.
    pg.psql("claims", "UPDATE desk_items SET lease_until = now() - interval '1 second'");
    assert_eq!(li.post(&format!("{item}/claim"), json!({})).status, 200);

    // li decides: a command signed with central's key on the lane's cmd topic.
    let cmd = Subscriber::connect(broker.port, "lanectl/A/G01/cmd");
    let sent = li.post(
        &format!("{item}/decide"),
        json!({"outcome": "release", "reason": "images_clear", "comment": "seal checked",
        "corrections": [{"kind": "plate", "original": "沪A12345", "corrected": "沪A12346"}]}),
    );
    assert_eq!(sent.status, 200, "{}", sent.text());
    let id = sent.json()["command"].as_str().unwrap().to_string();
    let (_, envelope, _) = cmd.next(Duration::from_secs(10)).expect("the command on the lane's topic");
    let command =
        approved_verifier(&c, "A", "G01").verify(&envelope, chrono::Utc::now()).expect("signed by central");
    assert_eq!(command.id, id);
    assert_eq!(command.by, "li", "the lane records central:li");
    assert_eq!(command.action, Action::Release { passage: "A-G01-0001".into() });
    let again = li.post(&format!("{item}/decide"), json!({"outcome": "hold", "reason": "await_documents"}));
    assert_eq!(again.status, 409, "one decision on its way at a time: {}", again.text());

    // The lane's ack closes the vehicle: it leaves the queue.
    ack(broker.port, &id, "released");
    wait_until("the item closed by the ack", Duration::from_secs(20), || {
        li.get("/api/desk/queue").json()["items"].as_array().unwrap().is_empty()
    });
    let shown = li.get(item).json();
    assert_eq!(shown["item"]["state"], "decided");
    assert_eq!(shown["item"]["command"]["state"], "accepted");
    assert_eq!(shown["corrections"][0]["corrected"], "沪A12346");
    assert_eq!(shown["corrections"][0]["original"], "沪A12345", "the original is kept");
    let story: Vec<String> =
        shown["story"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert!(
        story.contains(&"command_sent".into())
            && story.contains(&"ack".into())
            && story.contains(&"audit".into()),
        "{story:?}"
    );
}

/// The lane's ack of command `id`, carried out with `outcome`, as the lane publishes it.
fn ack(port: u16, id: &str, outcome: &str) {
    let ack = json!({"id": id, "accepted": true, "reason": null, "detail": outcome, "outcome": outcome, "at": chrono::Utc::now()});
    let published = Command::new("mosquitto_pub")
        .args(["-p", &port.to_string(), "-q", "1", "-t", "lanectl/A/G01/ack", "-m", &ack.to_string()])
        .status()
        .unwrap();
    assert!(published.success());
}

#[test]
fn a_vehicle_a_reviewer_holds_stays_on_the_desk_until_released() {
    let (pg, broker) = (Postgres::start(), Mosquitto::start());
    let c = Central::start(&pg.database("holds"), broker.port, "");
    c.user("li", "reviewer", Some("A"));
    held(&pg, "holds", "A", "G01", "A-G01-0001", "沪A12345");
    held(&pg, "holds", "A", "G01", "A-G01-0002", "沪A22345");
    let li = c.login("li");
    let item = "/api/desk/items/A/G01/A-G01-0001";
    assert_eq!(li.post(&format!("{item}/claim"), json!({})).status, 200);
    let sent = li.post(&format!("{item}/decide"), json!({"outcome": "hold", "reason": "await_documents"}));
    assert_eq!(sent.status, 200, "{}", sent.text());
    ack(broker.port, sent.json()["command"].as_str().unwrap(), "held");

    // Carried out, it stays: after the vehicles nobody has decided, marked, never escalated.
    wait_until("the hold carried out", Duration::from_secs(20), || {
        li.get(item).json()["item"]["command"]["state"] == "accepted"
    });
    let shown = li.get(item).json();
    assert_eq!(
        (shown["item"]["state"].as_str(), shown["item"]["on_hold"].as_bool()),
        (Some("waiting"), Some(true))
    );
    // Both past the red limit: only the vehicle nobody has decided escalates.
    pg.psql("holds", "UPDATE desk_items SET decided_at = now() - interval '1 hour'");
    wait_until("the other vehicle escalated", Duration::from_secs(20), || {
        pg.psql("holds", "SELECT count(*) FROM desk_items WHERE escalated_at IS NOT NULL") == "1"
    });
    let queue = li.get("/api/desk/queue").json();
    let order: Vec<(&str, bool, bool)> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["passage"].as_str().unwrap(), i["on_hold"].as_bool().unwrap(), i["escalated_at"].is_null())
        })
        .collect();
    assert_eq!(order, [("A-G01-0002", false, false), ("A-G01-0001", true, true)]);

    // The documents arrive: the same reviewer releases it, and that closes it.
    let release = li.post(&format!("{item}/decide"), json!({"outcome": "release", "reason": "images_clear"}));
    assert_eq!(release.status, 200, "{}", release.text());
    ack(broker.port, release.json()["command"].as_str().unwrap(), "released");
    wait_until("the release closes it", Duration::from_secs(20), || {
        li.get(item).json()["item"]["state"] == "decided"
    });
}

#[test]
fn pre_declarations_are_checked_whole_and_pushed_signed_to_each_lane() {
    let (pg, broker) = (Postgres::start(), Mosquitto::start());
    let c = Central::start(&pg.database("decl"), broker.port, "");
    c.user("wang", "supervisor", None);
    c.user("li", "reviewer", None);
    pg.psql("decl", "INSERT INTO lanes (site, lane) VALUES ('A', 'G01'), ('A', 'G02'), ('B', 'G01')");
    let (wang, li) = (c.login("wang"), c.login("li"));
    let bad = "plate,containers,valid_from\n沪A12345,MSKU1234565,2026-03-01 08:00\n沪A1234,MSKU1234566,\n";
    let r = wang
        .post("/api/desk/declarations", json!({"file_name": "d.csv", "content": bad, "lanes": []}))
        .json();
    assert_eq!(r["accepted"], false);
    let lines: Vec<i64> =
        r["problems"].as_array().unwrap().iter().map(|p| p["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, [3, 3], "{r}");
    // A huge refused file: the first problems and how many there are, not all of them.
    let same = "plate\n".to_string() + &"沪A12345\n".repeat(300);
    let r = wang.post("/api/desk/declarations", json!({"file_name": "d.csv", "content": same})).json();
    assert_eq!((r["problems"].as_array().unwrap().len(), r["problem_count"].as_u64()), (200, Some(299)));
    assert_eq!(r["problems"][0]["message"], "沪A12345 is declared twice (also line 2)");
    assert_eq!(pg.psql("decl", "SELECT count(*) FROM commands"), "0", "nothing sent");
    assert_eq!(li.post("/api/desk/declarations", json!({"file_name": "d.csv", "content": bad})).status, 403);

    let sub = Subscriber::connect(broker.port, "lanectl/+/+/cmd");
    let good =
        "车牌,箱号,空箱,布控,生效时间\n沪A12345,MSKU1234565,否,否,2026-03-01 08:00\n苏E5678D,,否,是,\n";
    let lanes = json!(["A/G01", "A/G02"]);
    let r = wang
        .post("/api/desk/declarations", json!({"file_name": "d.csv", "content": good, "lanes": lanes}))
        .json();
    assert_eq!((r["accepted"].as_bool(), r["rows"].as_i64()), (Some(true), Some(2)), "{r}");
    let mut got = BTreeMap::new();
    for _ in 0..2 {
        let (topic, envelope, _) = sub.next(Duration::from_secs(10)).expect("a declare command");
        let lane = topic.split('/').nth(2).unwrap().to_string();
        let cmd = approved_verifier(&c, "A", &lane)
            .verify(&envelope, chrono::Utc::now())
            .expect("signed for that lane");
        let Action::Declare { declarations } = cmd.action else { panic!("not a declare: {:?}", cmd.action) };
        got.insert(lane, declarations);
    }
    assert_eq!(got.keys().collect::<Vec<_>>(), ["G01", "G02"], "B/G01 was not asked for");
    let d = &got["G01"];
    assert_eq!((d[0].plate.as_str(), d[1].targeted), ("沪A12345", true));
    assert_eq!(d[0].valid_from.unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00", "08:00 in Asia/Shanghai");
    let history = wang.get("/api/desk/declarations").json();
    let states: Vec<&str> = history["imports"][0]["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "sent"]);
    assert_eq!(pg.psql("decl", "SELECT count(*) FROM desk_audit WHERE action = 'declaration_import'"), "1");
}
