/* nlrl view: the samples table (filter, search, sort, paginate), live refresh, the search
   trees' node detail on click, and the one-section-at-a-time navigation of an exported report.
   Text is only ever set with textContent: nothing from a run is parsed as HTML. */
(function () {
  "use strict";
  var PAGE = 50;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function readRows(id) {
    var node = document.getElementById(id);
    if (!node) return [];
    try { return JSON.parse(node.textContent); } catch (err) { return []; }
  }

  function cmp(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    var na = Number(a), nb = Number(b);
    if (a !== "" && b !== "" && !isNaN(na) && !isNaN(nb)) return na - nb;
    return String(a).localeCompare(String(b));
  }

  function SamplesTable(root) {
    this.root = root;
    this.rows = readRows(root.getAttribute("data-rows"));
    this.urlTemplate = root.getAttribute("data-sample-url");
    this.state = { verdict: "", domain: "", level: "", q: "", sort: "pos", dir: 1, page: 0 };
    this.body = root.querySelector("[data-role=body]");
    this.count = root.querySelector("[data-role=count]");
    this.pageLabel = root.querySelector("[data-role=page]");
    var self = this;
    root.querySelectorAll("[data-filter]").forEach(function (input) {
      var key = input.getAttribute("data-filter");
      input.addEventListener(input.tagName === "SELECT" ? "change" : "input", function () {
        self.state[key] = input.value; self.state.page = 0; self.render();
      });
    });
    root.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () {
        var key = th.getAttribute("data-sort");
        if (self.state.sort === key) self.state.dir = -self.state.dir; else { self.state.sort = key; self.state.dir = 1; }
        root.querySelectorAll("th[data-sort]").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
        th.classList.add(self.state.dir > 0 ? "sorted-asc" : "sorted-desc");
        self.render();
      });
    });
    root.querySelector("[data-role=prev]").addEventListener("click", function () { self.state.page--; self.render(); });
    root.querySelector("[data-role=next]").addEventListener("click", function () { self.state.page++; self.render(); });
    this.fillOptions();
    this.render();
  }

  SamplesTable.prototype.fillOptions = function () {
    var self = this;
    ["domain", "level"].forEach(function (key) {
      var select = self.root.querySelector("select[data-filter=" + key + "]");
      var seen = {};
      self.rows.forEach(function (r) { if (r[key] !== "") seen[r[key]] = true; });
      var have = {};
      Array.prototype.forEach.call(select.options, function (o) { have[o.value] = true; });
      Object.keys(seen).sort(cmp).forEach(function (v) {
        if (!have[v]) { var o = el("option", v); o.value = v; select.appendChild(o); }
      });
      select.parentNode.style.display = Object.keys(seen).length ? "" : "none";
    });
  };

  SamplesTable.prototype.filtered = function () {
    var s = this.state, q = s.q.trim().toLowerCase();
    var out = this.rows.filter(function (r) {
      if (s.verdict && r.verdict !== s.verdict) return false;
      if (s.domain && r.domain !== s.domain) return false;
      if (s.level && r.level !== s.level) return false;
      if (q && (r.id + "\n" + r.answer + "\n" + r.gold + "\n" + r.text).toLowerCase().indexOf(q) < 0) return false;
      return true;
    });
    var key = s.sort, dir = s.dir;
    out.sort(function (a, b) { return dir * cmp(a[key], b[key]) || a.pos - b.pos; });
    return out;
  };

  SamplesTable.prototype.link = function (r) {
    return this.urlTemplate.replace("{id}", encodeURIComponent(r.id)).replace("{pos}", String(r.pos));
  };

  SamplesTable.prototype.render = function () {
    var rows = this.filtered();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this.state.page = Math.min(Math.max(0, this.state.page), pages - 1);
    var start = this.state.page * PAGE, shown = rows.slice(start, start + PAGE);
    var frag = document.createDocumentFragment(), self = this;
    shown.forEach(function (r) {
      var tr = el("tr"); tr.setAttribute("data-id", r.id); tr.setAttribute("data-verdict", r.verdict);
      var td = el("td"), a = el("a", r.id); a.href = self.link(r); td.appendChild(a); tr.appendChild(td);
      tr.appendChild(el("td", r.verdict, "verdict-cell " + r.verdict));
      tr.appendChild(el("td", r.answer)); tr.appendChild(el("td", r.gold));
      tr.appendChild(el("td", r.tokens, "num")); tr.appendChild(el("td", r.time, "num"));
      tr.appendChild(el("td", r.domain)); tr.appendChild(el("td", r.level));
      frag.appendChild(tr);
    });
    this.body.textContent = "";
    this.body.appendChild(frag);
    this.count.textContent = rows.length + " of " + this.rows.length + " samples";
    this.count.setAttribute("data-matching", String(rows.length));
    this.pageLabel.textContent = "page " + (this.state.page + 1) + " of " + pages;
  };

  SamplesTable.prototype.replace = function (rows) { this.rows = rows; this.fillOptions(); this.render(); };

  function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%"; }

  function setStats(head) {
    var put = function (key, text) {
      document.querySelectorAll("#stats [data-stat=" + key + "]").forEach(function (n) { n.textContent = text; });
    };
    put("samples", head.samples + (head.selected && head.selected !== head.samples ? "/" + head.selected : ""));
    put("correct", head.correct); put("accuracy", pct(head.accuracy)); put("errors", head.errors);
    put("ci95", head.ci95 && head.ci95[0] !== null ? "[" + (100 * head.ci95[0]).toFixed(1) + ", " + (100 * head.ci95[1]).toFixed(1) + "]" : "–");
    put("tokens", head.tokens_per_sample === null ? "–" : head.tokens_per_sample.toFixed(1));
    put("status", head.status);
    document.querySelectorAll("#stats [data-stat=status]").forEach(function (n) { n.className = "status " + head.status; });
  }

  function live(tables) {
    var badge = document.getElementById("live");
    if (!badge || !window.fetch) return;
    var url = badge.getAttribute("data-url"), version = badge.getAttribute("data-version");
    var timer = setInterval(function () {
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(version), { cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.version === version) return;
          version = data.version;
          badge.textContent = data.status || "updated";
          if (data.rows && tables.length) { tables[0].replace(data.rows); setStats(data.head); }
          else if (!data.rows) { window.location.reload(); }
          if (data.status && data.status !== "running") clearInterval(timer);
        })
        .catch(function () { badge.textContent = "server unreachable"; });
    }, 1500);
  }

  function router() {
    var sections = document.querySelectorAll("body.export section.view");
    if (!sections.length) return;
    function show() {
      var id = decodeURIComponent((window.location.hash || "#runs").slice(1));
      var target = document.getElementById(id);
      if (!target || !target.classList.contains("view")) target = document.getElementById("runs");
      sections.forEach(function (s) { s.classList.toggle("shown", s === target); });
      window.scrollTo(0, 0);
    }
    window.addEventListener("hashchange", show);
    show();
  }

  function searchTrees() {
    document.querySelectorAll("div.block.search").forEach(function (block) {
      var panel = block.querySelector("[data-role=node-detail]");
      if (!panel) return;
      function show(node) {
        block.querySelectorAll("svg.search-tree g.node.selected").forEach(function (n) { n.classList.remove("selected"); });
        node.classList.add("selected");
        ["info", "text", "note"].forEach(function (key) {
          panel.querySelector("[data-field=" + key + "]").textContent = node.getAttribute("data-" + key) || "";
        });
        panel.setAttribute("data-node", node.getAttribute("data-node"));
        panel.hidden = false;
      }
      block.querySelectorAll("svg.search-tree g.node").forEach(function (node) {
        node.addEventListener("click", function () { show(node); });
        node.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); show(node); }
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    searchTrees();
    var tables = [];
    document.querySelectorAll("div.samples[data-rows]").forEach(function (root) { tables.push(new SamplesTable(root)); });
    router();
    live(tables);
  });
})();
