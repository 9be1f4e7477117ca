// codeloop report: the task table, the plots and the task pages.
// Every string from the data (programs, model text, test values) reaches the page through
// textContent or createTextNode, never through innerHTML: nothing in the data is markup.
(function () {
  "use strict";
  const PAGE_SIZE = 50;
  const config = JSON.parse(document.getElementById("config").textContent);
  const state = {
    data: null, version: null, filter: "all", search: "", sortKey: null, sortDir: 1,
    page: 0, taskIndex: {}, openTask: null, plotted: false,
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function pre(text, cls) { return el("pre", { class: cls || "" }, String(text)); }
  function fmt(value, digits) {
    if (value === null || value === undefined) return "-";
    return typeof value === "number" && digits !== undefined ? value.toFixed(digits) : String(value);
  }

  // ------------------------------------------------------------------ data sources
  async function fetchJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }
  async function loadPage() {
    if (config.live) return fetchJson("api/page");
    return JSON.parse(document.getElementById("page-data").textContent);
  }
  async function loadTask(taskId) {
    if (config.live) return fetchJson("api/task?id=" + encodeURIComponent(taskId));
    const index = state.taskIndex[taskId];
    const block = document.getElementById("task-" + index);
    if (!block) return null;
    if (block.dataset.encoding !== "gzip+base64") return JSON.parse(block.textContent);
    const bytes = Uint8Array.from(atob(block.textContent), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).json();
  }

  // ------------------------------------------------------------------ outcomes
  function outcome(cell, kind) {
    if (!cell) return { text: "-", cls: "none", rank: -2 };
    if (cell.failure) return { text: "no result", cls: "none", rank: -1 };
    if (cell.error) return { text: "error", cls: "bad", rank: -0.5 };
    if (kind === "evaluate") {
      const cls = cell.passed === cell.samples ? "ok" : cell.passed ? "part" : "bad";
      return { text: cell.passed + "/" + cell.samples, cls: cls, rank: cell.pass_at_1 };
    }
    return cell.solved ? { text: "solved", cls: "ok", rank: 1 } : { text: "failed", cls: "bad", rank: 0 };
  }
  function solvedFlags(row) {
    return row.cells.filter((c) => c && !c.failure).map((c) => Boolean(c.solved));
  }
  const FILTERS = {
    all: () => true,
    solved: (row) => { const f = solvedFlags(row); return f.length > 0 && f.every(Boolean); },
    unsolved: (row) => solvedFlags(row).some((x) => !x),
    disagree: (row) => { const f = solvedFlags(row); return f.some(Boolean) && f.some((x) => !x); },
    errors: (row) => row.cells.some((c) => c && (c.error || c.failure)),
  };

  // ------------------------------------------------------------------ the task table
  function columns() {
    const cols = [{ key: "id", label: "task", value: (row) => row.id, text: (row) => row.id }];
    state.data.sources.forEach((source, i) => {
      const label = state.data.sources.length > 1 ? " (" + (i + 1) + ")" : "";
      cols.push({
        key: i + ":outcome", label: "outcome" + label, source: i, cls: "outcome",
        value: (row) => outcome(row.cells[i], source.kind).rank,
        render: (row) => { const o = outcome(row.cells[i], source.kind); return el("span", { class: o.cls, text: o.text }); },
      });
      const numeric = [["programs", "programs"], ["wall_s", "wall s"]];
      if (source.kind === "run") numeric.splice(1, 0, ["calls", "calls"], ["tokens", "tokens"]);
      for (const [key, name] of numeric) {
        cols.push({
          key: i + ":" + key, label: name + label, source: i, num: true,
          value: (row) => (row.cells[i] ? row.cells[i][key] : -1),
          text: (row) => (row.cells[i] ? fmt(row.cells[i][key], key === "wall_s" ? 2 : undefined) : "-"),
        });
      }
    });
    return cols;
  }
  function visibleRows() {
    const keep = FILTERS[state.filter] || FILTERS.all;
    const needle = state.search.toLowerCase();
    let rows = state.data.rows.filter((row) => keep(row) && (!needle || row.id.toLowerCase().includes(needle)));
    if (state.sortKey) {
      const col = columns().find((c) => c.key === state.sortKey);
      if (col) {
        rows = rows.slice().sort((a, b) => {
          const x = col.value(a), y = col.value(b);
          return (x < y ? -1 : x > y ? 1 : 0) * state.sortDir;
        });
      }
    }
    return rows;
  }
  function renderControls() {
    const box = document.getElementById("task-controls");
    // built once: a live refresh keeps the filter, the search box and its focus as they are
    if (!document.getElementById("search")) {
      const select = el("select", { id: "filter", onchange: (e) => { state.filter = e.target.value; state.page = 0; renderTable(); } });
      for (const [value, text] of [["all", "all tasks"], ["solved", "solved (by every run)"], ["unsolved", "unsolved (by some run)"], ["disagree", "runs disagree"], ["errors", "errors"]]) {
        const option = el("option", { value: value, text: text });
        if (value === state.filter) option.selected = true;
        select.append(option);
      }
      const search = el("input", { id: "search", type: "search", placeholder: "task id contains...", value: state.search,
        oninput: (e) => { state.search = e.target.value; state.page = 0; renderTable(); } });
      box.append(el("label", {}, "show ", select), search, el("span", { id: "count", class: "muted" }),
        el("span", { id: "legend", class: "muted" }));
    }
    const legend = document.getElementById("legend");
    legend.textContent = state.data.sources.length > 1
      ? state.data.sources.map((s, i) => "(" + (i + 1) + ") " + s.label).join("   ") : "";
  }
  function renderTable() {
    const cols = columns();
    const rows = visibleRows();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const table = el("table", { class: "tasks", id: "tasks-table" });
    const head = el("tr");
    for (const col of cols) {
      const th = el("th", { "data-key": col.key, text: col.label, onclick: () => {
        state.sortDir = state.sortKey === col.key ? -state.sortDir : 1;
        state.sortKey = col.key; renderTable();
      } });
      if (state.sortKey === col.key) th.className = state.sortDir > 0 ? "sorted-asc" : "sorted-desc";
      head.append(th);
    }
    table.append(el("thead", {}, head));
    const body = el("tbody");
    for (const row of rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE)) {
      const tr = el("tr", { "data-task": row.id });
      for (const col of cols) {
        let content;
        if (col.key === "id") content = el("a", { href: "#task/" + encodeURIComponent(row.id), text: row.id });
        else if (col.render) content = col.render(row);
        else content = col.text(row);
        tr.append(el("td", { class: (col.num ? "num " : "") + (col.cls || "") }, content));
      }
      body.append(tr);
    }
    table.append(body);
    const holder = document.getElementById("task-table");
    holder.textContent = "";
    holder.append(table);
    document.getElementById("count").textContent = rows.length + " of " + state.data.rows.length + " tasks";
    const pager = document.getElementById("pager");
    pager.textContent = "";
    pager.append(
      el("button", { id: "prev", onclick: () => { state.page -= 1; renderTable(); } }, "previous"),
      el("span", { id: "page", text: "page " + (state.page + 1) + " of " + pages }),
      el("button", { id: "next", onclick: () => { state.page += 1; renderTable(); } }, "next"),
    );
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
  }

  // ------------------------------------------------------------------ plots
  function renderFigures() {
    const box = document.getElementById("figures");
    box.textContent = "";
    box.className = "figures";
    if (typeof Plotly === "undefined") { box.append(el("p", { text: "plotly.js did not load" })); return; }
    for (const figure of state.data.figures) {
      const plot = el("div", { class: "plot", id: "plot-" + figure.id });
      box.append(el("div", { class: "figure" + (figure.id === "outcome-grid" ? " wide" : "") },
        el("h3", { text: figure.title }), figure.note ? el("p", { class: "note", text: figure.note }) : null, plot));
      const layout = Object.assign({ margin: { t: 10, r: 10, b: 50, l: 60 }, height: 340, showlegend: true,
        legend: { orientation: "h", y: -0.25 } }, figure.layout || {});
      Plotly.newPlot(plot, figure.data, layout, { displaylogo: false, responsive: true });
    }
    // the grid settles its column widths once every figure is in: fit each plot to its box
    box.querySelectorAll(".plot").forEach((plot) => Plotly.Plots.resize(plot));
  }

  // ------------------------------------------------------------------ a task's page
  function diffBlock(text) {
    const block = el("pre", { class: "diff" });
    for (const line of text.split("\n")) {
      const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
      block.append(cls ? el("span", { class: cls, text: line }) : document.createTextNode(line + "\n"));
    }
    return block;
  }
  function usageText(usage) {
    const parts = [];
    if (usage.calls) parts.push(usage.calls + " call" + (usage.calls > 1 ? "s" : ""));
    const tokens = (usage.prompt_tokens || 0) + (usage.completion_tokens || 0);
    if (tokens) parts.push(tokens + " tokens");
    if (usage.executions) parts.push(usage.executions + " exec");
    if (usage.cost_usd) parts.push("$" + usage.cost_usd);
    return parts.join(", ");
  }
  function metaText(meta) {
    const keys = ["value", "visits", "score", "reward", "status", "passed", "total", "label", "samples", "size", "rank"];
    return keys.filter((k) => meta[k] !== undefined && meta[k] !== null && typeof meta[k] !== "object")
      .map((k) => k + "=" + meta[k]).join(" ");
  }
  function recordTable(name, records) {
    const keys = [];
    for (const record of records.slice(0, 50)) for (const k of Object.keys(record)) if (!keys.includes(k)) keys.push(k);
    const cell = (v) => {
      if (v === undefined || v === null) return "";
      if (Array.isArray(v)) return v.length <= 6 ? v.join(", ") : v.length + " items";
      if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
      return typeof v === "object" ? JSON.stringify(v) : String(v);
    };
    const table = el("table", { class: "records" }, el("tr", {}, ...keys.map((k) => el("th", { text: k }))));
    for (const record of records.slice(0, 50)) table.append(el("tr", {}, ...keys.map((k) => el("td", { text: cell(record[k]) }))));
    const more = records.length > 50 ? " (the first 50 of " + records.length + ")" : " (" + records.length + ")";
    return el("div", {}, el("div", { class: "muted", text: name + more }), table);
  }
  function traceTree(nodes) {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const children = new Map();
    const roots = [];
    for (const n of nodes) {
      if (n.parent !== null && byId.has(n.parent)) {
        if (!children.has(n.parent)) children.set(n.parent, []);
        children.get(n.parent).push(n);
      } else roots.push(n);
    }
    function nodeElement(n) {
      const kids = children.get(n.id) || [];
      const summary = el("summary", {}, el("span", { class: "kind", text: n.kind }), " #" + n.id + " ",
        el("span", { class: "usage", text: [usageText(n.usage || {}), metaText(n.metadata || {}), kids.length ? kids.length + " below" : ""].filter(Boolean).join(" · ") }));
      const details = el("details", { class: "node", "data-node": String(n.id) }, summary);
      let filled = false;
      details.addEventListener("toggle", () => {
        if (!details.open || filled) return;
        filled = true;
        if (n.content) details.append(pre(n.content));
        const meta = Object.assign({}, n.metadata || {});
        // lists of records (CodeT's consensus sets, a search's children) as tables
        for (const [key, value] of Object.entries(meta)) {
          if (!Array.isArray(value) || !value.length || typeof value[0] !== "object" || value[0] === null) continue;
          details.append(recordTable(key, value));
          delete meta[key];
        }
        if (Object.keys(meta).length) details.append(el("div", { class: "muted", text: "metadata: " + JSON.stringify(meta) }));
        for (const kid of kids) details.append(nodeElement(kid));
      });
      return details;
    }
    const tree = el("div", { class: "tree" });
    for (const root of roots) tree.append(nodeElement(root));
    return tree;
  }
  function failureTable(failure) {
    const table = el("table", { class: "failing" });
    for (const key of ["test", "status", "expected", "actual", "exception", "message", "traceback", "infra_error"]) {
      if (failure[key] === undefined || failure[key] === null || failure[key] === "") continue;
      const value = typeof failure[key] === "string" ? failure[key] : JSON.stringify(failure[key]);
      table.append(el("tr", {}, el("th", { text: key }), el("td", {}, pre(value))));
    }
    if (failure.test === undefined && failure.i !== undefined) table.append(el("tr", {}, el("th", { text: "hidden test" }), el("td", { text: String(failure.i) })));
    return table;
  }
  function verdictBlock(verdict, kind, showProgram, programs) {
    const passed = Object.keys(verdict.groups).length > 0 && Object.values(verdict.groups).every(Boolean);
    const name = kind === "run" ? "answer (rank " + verdict.index + ")" : "sample " + verdict.index;
    const groups = Object.entries(verdict.groups).map(([g, ok]) => g + ": " + (ok ? "pass" : "fail")).join(", ");
    const block = el("div", { class: "verdict" },
      el("div", {}, el("strong", { text: name + " — hidden tests " }), el("span", { class: passed ? "ok" : "bad", text: verdict.status }),
        el("span", { class: "muted", text: "  " + groups + (verdict.statuses ? "  tests " + verdict.statuses : "") })));
    const program = verdict.node !== undefined ? programs.get(verdict.node) : verdict.program;
    if (program !== null && program !== undefined) {
      const where = verdict.node !== undefined ? " (trace node #" + verdict.node + ")" : "";
      if (showProgram) block.append(el("div", { class: "muted", text: "program" + where }), pre(program));
      else block.append(el("details", {}, el("summary", { text: "program" + where }), pre(program)));
    }
    for (const failure of verdict.failures) block.append(el("div", { class: "muted", text: "failing test" }), failureTable(failure));
    return block;
  }
  function moreList(container, items, first, render) {
    items.slice(0, first).forEach((item) => container.append(render(item)));
    if (items.length > first) {
      const button = el("button", { class: "more", text: "show the other " + (items.length - first) });
      button.addEventListener("click", () => { button.remove(); items.slice(first).forEach((item) => container.append(render(item))); });
      container.append(button);
    }
  }
  function attemptBlock(attempt, number, total, programs) {
    const block = el("div", { class: "attempt", "data-node": String(attempt.node) },
      el("strong", { text: "program " + number + " of " + total }),
      el("span", { class: "muted", text: "  trace node #" + attempt.node + ", model calls so far " + attempt.calls + ", tokens " + attempt.tokens }),
      pre(attempt.program !== undefined ? attempt.program : programs.get(attempt.node)));
    if (attempt.diff !== undefined) {
      block.append(el("details", { open: "" }, el("summary", { text: "diff from the program it repairs (#" + attempt.repairs + ")" }),
        attempt.diff ? diffBlock(attempt.diff) : el("p", { class: "muted", text: "the same program" })));
    }
    for (const line of attempt.executions) block.append(el("div", {}, el("strong", { text: "ran: " }), line));
    for (const text of attempt.feedback) block.append(el("div", { class: "muted", text: "feedback" }), pre(text, "feedback"));
    return block;
  }
  async function showTask(taskId) {
    const section = document.getElementById("task");
    const data = await loadTask(taskId);
    section.textContent = "";
    section.hidden = false;
    state.openTask = taskId;
    section.append(el("a", { href: "#tasks", text: "\u2190 back to the tasks" }));
    if (!data) { section.append(el("h2", { text: "no task " + taskId })); return; }
    section.append(el("h2", { id: "task-title", text: data.id }));
    section.append(el("h3", { text: "prompt" }), data.prompt === null ? el("p", { class: "muted", text: "not available (the dataset could not be loaded)" }) : pre(data.prompt));
    if (data.visible_tests.length) section.append(el("h3", { text: "visible tests" }), pre(data.visible_tests.join("\n")));
    data.details.forEach((detail, i) => {
      const source = state.data.sources[i];
      const block = el("div", { class: "source-block", "data-source": String(i) }, el("h3", { text: source.label }));
      section.append(block);
      if (!detail) { block.append(el("p", { class: "muted", text: "no result for this task" })); return; }
      const programs = new Map(detail.trace.filter((n) => n.kind === "program").map((n) => [n.id, n.content]));
      const o = outcome(detail, source.kind);
      block.append(el("p", {}, el("span", { class: o.cls, text: o.text }),
        el("span", { class: "muted", text: "  " + usageText(detail.usage || {}) + (detail.wall_s ? ", " + detail.wall_s.toFixed(2) + " s" : "") })));
      if (detail.error) block.append(el("div", { class: "muted", text: "error" }), pre(detail.error, "feedback"));
      if (detail.note) block.append(el("p", { class: "muted", text: "note: " + detail.note }));
      if (detail.attempts.length) {
        block.append(el("h3", { text: "programs tried (" + detail.attempts.length + ")" }));
        const list = el("div", { class: "attempts" });
        block.append(list);
        moreList(list, detail.attempts.map((a, n) => [a, n]), 10, ([a, n]) => attemptBlock(a, n + 1, detail.attempts.length, programs));
      }
      block.append(el("h3", { text: source.kind === "run" ? "answer and its hidden-test verdict" : "samples and their hidden-test verdicts (" + detail.verdicts.length + ")" }));
      const verdicts = el("div", { class: "verdicts" });
      block.append(verdicts);
      if (!detail.verdicts.length) verdicts.append(el("p", { class: "muted", text: "no verdict" }));
      moreList(verdicts, detail.verdicts, 10, (v) => verdictBlock(v, source.kind, source.kind === "run" && v.index === 0, programs));
      if (detail.trace.length) {
        block.append(el("h3", { text: "trace (" + detail.trace.length + " nodes)" }), traceTree(detail.trace));
      }
    });
    section.scrollIntoView();
  }
  function route() {
    let hash = location.hash.slice(1);
    try {
      hash = decodeURIComponent(hash);
    } catch (error) {
      // a malformed address (a hand-edited #task/...): take it as written
    }
    if (hash.startsWith("task/")) showTask(hash.slice(5)).catch(reportError);
    else { document.getElementById("task").hidden = true; state.openTask = null; }
  }
  function reportError(error) {
    document.getElementById("status").textContent = "error: " + error.message;
  }

  // ------------------------------------------------------------------ start, and live refresh
  function apply(data) {
    state.data = data;
    state.taskIndex = {};
    data.rows.forEach((row, i) => { state.taskIndex[row.id] = i; });
    if (data.summary_html !== undefined) {
      // the server escaped every value of this fragment (html.escape), as the file's summary
      document.getElementById("summary-body").innerHTML = data.summary_html;
    }
    renderControls();
    renderTable();
    document.getElementById("status").textContent = (config.live ? "live: " : "") + data.rows.length + " tasks, " + data.generated;
    document.body.setAttribute("data-ready", "1");
    // plotly.js comes after this script in the page: draw once the page has loaded
    const draw = () => { renderFigures(); document.body.setAttribute("data-plotted", "1"); };
    if (document.readyState === "complete") requestAnimationFrame(() => setTimeout(draw, 0));
    else window.addEventListener("load", () => setTimeout(draw, 0), { once: true });
  }
  async function poll() {
    try {
      const version = await fetchJson("api/version");
      if (version.version !== state.version) {
        state.version = version.version;
        const previous = state.data && state.openTask ? JSON.stringify(state.data.rows[state.taskIndex[state.openTask]]) : null;
        apply(await loadPage());
        if (state.openTask && JSON.stringify(state.data.rows[state.taskIndex[state.openTask]]) !== previous) await showTask(state.openTask);
      }
    } catch (error) { reportError(error); }
    setTimeout(poll, config.poll_ms || 2000);
  }
  async function start() {
    window.addEventListener("hashchange", route);
    if (config.live) {
      state.version = (await fetchJson("api/version")).version;
      apply(await loadPage());
      setTimeout(poll, config.poll_ms || 2000);
    } else apply(await loadPage());
    route();
  }
  start().catch(reportError);
})();
