// The login page: name and password to POST /api/desk/session, then back to
// the page that sent us here (only a path on this site, never elsewhere).
"use strict";
(async () => {
  const words = await (await fetch("/assets/words.json")).json();
  let lang = localStorage.getItem("desk.lang") || (navigator.language.startsWith("zh") ? "zh-CN" : "en");
  const $ = (id) => document.getElementById(id);
  const t = (k) => (words[lang] && words[lang][k]) || words.en[k] || k;
  const params = new URLSearchParams(location.search);
  const next = params.get("next") || "/";
  const safeNext = next.startsWith("/") && !next.startsWith("//") ? next : "/";

  function render() {
    document.documentElement.lang = lang;
    document.title = t("app.title");
    $("title").textContent = t("login.title");
    $("name-label").textContent = t("login.name");
    $("password-label").textContent = t("login.password");
    $("submit").textContent = t("login.submit");
    $("lang").textContent = t("top.language");
    if (params.get("expired")) $("error").textContent = t("login.expired");
  }
  $("lang").onclick = () => {
    lang = lang === "en" ? "zh-CN" : "en";
    localStorage.setItem("desk.lang", lang);
    render();
  };
  $("login").onsubmit = async (e) => {
    e.preventDefault();
    $("submit").disabled = true;
    $("error").textContent = "";
    try {
      const r = await fetch("/api/desk/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: $("name").value.trim(), password: $("password").value }),
      });
      if (r.ok) {
        const me = await r.json();
        localStorage.setItem("desk.lang", me.language);
        location.replace(safeNext);
        return;
      }
      const body = await r.json().catch(() => ({}));
      const locked = r.status === 403 && /locked/.test(body.error || "");
      $("error").textContent = r.status === 401 ? t("login.failed") : locked ? t("login.locked") : body.error || r.statusText;
      $("password").value = "";
      $("password").focus();
    } catch (err) {
      $("error").textContent = String(err);
    } finally {
      $("submit").disabled = false;
    }
  };
  render();
})();
