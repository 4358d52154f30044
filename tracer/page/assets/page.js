// tcptour page: the detail panel, keyboard stepping, folds, filters.
// It must never throw: every lookup may find nothing.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  // The ladder's geometry: tracer/page/ladder.go's constants.
  var XC = 200, XS = 590, RH = 20, TOP = 44;
  var dp = document.getElementById("dp");
  var pinned = null;
  var names = [["frame", "frame"], ["time", "time"], ["at", "seen at the"], ["flags", "flags"], ["seq", "seq"], ["ack", "ack"],
    ["len", "length"], ["win", "window"], ["opt", "options"], ["sack", "SACK blocks"], ["an", "analysis"], ["of", "departure frame"], ["pay", "payload"]];
  var folded = null; // frame → segment data, from the folds' JSON

  function data(el) {
    var o = {}, a = el && el.attributes;
    if (!a) return o;
    for (var i = 0; i < a.length; i++) {
      if (a[i].name.indexOf("data-") === 0) o[a[i].name.slice(5)] = a[i].value;
    }
    return o;
  }
  function byFrame(n) {
    return document.querySelector('svg [data-frame="' + String(n).replace(/[^0-9]/g, "") + '"]');
  }
  function foldedData(n) {
    if (!folded) {
      folded = {};
      var ss = document.querySelectorAll('script[type="application/json"]');
      for (var i = 0; i < ss.length; i++) {
        try {
          var f = JSON.parse(ss[i].textContent), id = ss[i].id;
          (f.s || []).forEach(function (a) {
            var d = fromArr(f, a);
            d.s.fold = id;
            folded[d.s.frame] = d.s;
            if (d.a) { d.a.fold = id; folded[d.a.frame] = d.a; }
          });
        } catch (e) { /* a fold without data: nothing to show */ }
      }
    }
    return folded[n] || null;
  }
  function show(o, pin) {
    if (!dp || !o) return;
    dp.textContent = "";
    var h = document.createElement("strong");
    h.textContent = (o.flags ? o.flags + " " : "") + "frame " + (o.frame || "?") + (pin ? " (pinned: Esc or click to unpin)" : "");
    dp.appendChild(h);
    if (o.note) {
      var p = document.createElement("p");
      p.textContent = o.note;
      dp.appendChild(p);
    }
    var dl = document.createElement("dl");
    names.forEach(function (n) {
      if (o[n[0]] === undefined || o[n[0]] === "") return;
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = n[1];
      dd.textContent = String(o[n[0]]);
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    dp.appendChild(dl);
    dp.className = pin ? "pin" : "";
    dp.hidden = false;
  }
  function target(t) {
    if (!t || !t.closest) return null;
    var el = t.closest("[data-frame],[data-ref]");
    if (el && el.tagName === "TR" && !el.hasAttribute("data-ref")) return null;
    return el;
  }
  function dataOf(el) {
    if (!el) return null;
    if (el.hasAttribute("data-frame")) return data(el);
    var n = el.getAttribute("data-ref");
    var seg = byFrame(n);
    return seg ? data(seg) : foldedData(n);
  }
  function mark(el, on) {
    var g = el && el.closest && el.closest(".sg");
    if (g) g.classList.toggle("on", on);
  }
  function pin(el) {
    if (pinned) mark(pinned, false);
    pinned = el;
    if (el) {
      mark(el, true);
      show(dataOf(el), true);
    } else if (dp) {
      dp.hidden = true;
    }
  }
  document.addEventListener("mouseover", function (ev) {
    if (pinned) return;
    var el = target(ev.target);
    if (el) show(dataOf(el), false);
  });
  document.addEventListener("focusin", function (ev) {
    var el = target(ev.target);
    if (el && !pinned) show(dataOf(el), false);
  });
  // A timeline row's note, opened below it on demand.
  function note(tr) {
    var next = tr.nextElementSibling;
    if (next && next.classList.contains("nr")) {
      next.parentNode.removeChild(next);
      tr.classList.remove("op");
      return;
    }
    var row = document.createElement("tr"), td = document.createElement("td");
    row.className = "nr";
    row.setAttribute("data-a", tr.getAttribute("data-a") || "");
    row.setAttribute("data-c", tr.getAttribute("data-c") || "");
    td.colSpan = 4;
    td.textContent = tr.getAttribute("data-note") || "";
    row.appendChild(td);
    tr.parentNode.insertBefore(row, next);
    tr.classList.add("op");
  }
  document.addEventListener("click", function (ev) {
    var tr = ev.target && ev.target.closest && ev.target.closest("tr.hn");
    if (tr) { note(tr); return; }
    var fb = ev.target && ev.target.closest && ev.target.closest(".fb");
    if (fb) { expand(fb.closest(".fd")); return; }
    var el = target(ev.target);
    if (!el || el.tagName === "TR") return;
    pin(pinned === el ? null : el);
  });
  function segs() {
    var all = Array.prototype.slice.call(document.querySelectorAll("svg g.sg[data-frame]"));
    all.sort(function (a, b) { return a.getAttribute("data-frame") - b.getAttribute("data-frame"); });
    return all;
  }
  document.addEventListener("keydown", function (ev) {
    var t = ev.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (ev.key === "Escape") { pin(null); return; }
    if (ev.key === "Enter" && tag === "TR" && t.classList.contains("hn")) { note(t); return; }
    if ((ev.key === "Enter" || ev.key === " ") && t && t.classList && t.classList.contains("fb")) {
      ev.preventDefault();
      expand(t.closest(".fd"));
      return;
    }
    var step = { ArrowRight: 1, j: 1, ArrowLeft: -1, k: -1 }[ev.key];
    if (!step || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var all = segs();
    if (!all.length) return;
    var cur = pinned && pinned.closest ? pinned.closest(".sg") : null;
    var i = all.indexOf(cur);
    i = i < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, i + step));
    ev.preventDefault();
    pin(all[i]);
    if (all[i].scrollIntoView) all[i].scrollIntoView({ block: "center", inline: "nearest" });
    if (all[i].focus) all[i].focus({ preventScroll: true });
  });

  // Folds: draw a run of ordinary segments from its JSON.
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setData(e, o) {
    for (var k in o) if (o[k] !== "" && o[k] !== undefined) e.setAttribute("data-" + k, o[k]);
  }
  function r1(v) { return Math.round(v * 10) / 10; }
  // geom is ladder.go's drawn.draw's geometry: the arrow of a segment
  // from row y1 to row y2.
  function geom(y1, y2, r, lo, o, h) {
    var x1 = r ? XC : XS, x2 = r ? XS : XC;
    if (h) x1 = (x1 + x2) / 2;
    if (lo) { x2 = (x1 + x2) / 2; y2 = y1 + RH * 0.6; }
    if (o) { x2 = x1 + (x2 - x1) * 0.75; y2 = y1 + RH * 0.6; }
    var dx = x2 - x1, dy = y2 - y1, l = Math.hypot(dx, dy) || 1, ux = dx / l, uy = dy / l, bx = x2 - ux * 8, by = y2 - uy * 8;
    return { x1: x1, y1: y1, x2: x2, y2: y2, tx: r ? x1 + 8 : x1 - 8,
      d: "M" + r1(x2) + " " + r1(y2) + "L" + r1(bx - uy * 3.5) + " " + r1(by + ux * 3.5) + "L" + r1(bx + uy * 3.5) + " " + r1(by - ux * 3.5) + "Z" };
  }
  // place sets a segment's <g> where its rows are now.
  function place(g, y1, y2) {
    var c = g.classList, rows = (g.getAttribute("data-rows") || "").split(" ");
    var q = geom(y1, y2, rows[2] === "1", c.contains("lo"), c.contains("un"), c.contains("hf"));
    var lines = g.querySelectorAll("line"), path = g.querySelector("path"), texts = g.querySelectorAll("text"), dot = g.querySelector("circle");
    for (var i = 0; i < lines.length; i++) { var line = lines[i]; line.setAttribute("x1", q.x1); line.setAttribute("y1", q.y1); line.setAttribute("x2", q.x2); line.setAttribute("y2", q.y2); }
    if (path) path.setAttribute("d", q.d);
    if (texts[0]) { texts[0].setAttribute("x", q.tx); texts[0].setAttribute("y", q.y1 - 4); }
    if (texts[1]) { texts[1].setAttribute("x", q.x2); texts[1].setAttribute("y", q.y2 + 12); }
    if (dot) { dot.setAttribute("cx", q.x2); dot.setAttribute("cy", q.y2); }
  }
  // drawSeg is ladder.go's drawn.draw.
  function drawSeg(d) {
    var g = el("g", { "class": d.c, tabindex: "0", role: "button", "data-rows": d.r1 + " " + d.r2 + " " + (d.r ? 1 : 0) });
    setData(g, d.s);
    g.appendChild(el("title", {}, d.t));
    g.appendChild(el("line", {}));
    g.appendChild(el("line", { "class": "h" }));
    g.appendChild(el("path", {}));
    var t = el("text", {}, d.l);
    if (!d.r) t.setAttribute("class", "e");
    g.appendChild(t);
    if (d.a) {
      var c = el("circle", { "class": "ar", r: "3.5" });
      setData(c, d.a);
      g.appendChild(c);
    }
    return g;
  }
  // fromArr makes a folded segment (ladder.go's foldData) what drawSeg
  // draws: the numbers and notes its element carries as ladder.go's seg.
  function fromArr(f, a) {
    var r = a[2] === 1, flags = String(a[4]), ackOn = flags.indexOf("ACK") >= 0, notes = f.notes || [], t = f.t || [];
    var label = flags + " seq " + a[5] + (ackOn ? " ack " + a[7] : "") + (a[9] > 0 ? " len " + a[9] : "");
    var from = r ? "client" : "server", to = r ? "server" : "client";
    var s = { frame: String(a[3]), time: "+" + t[a[0] - f.from] + " ms", at: a[15] ? from : "", flags: flags, seq: a[5] + " (raw " + a[6] + ")",
      ack: ackOn ? a[7] + " (raw " + a[8] + ")" : "", len: String(a[9]), win: String(a[10]), sack: a[16] || "", pay: a[14] || "", note: notes[a[11]] || "" };
    var d = { r1: a[0], r2: a[1], r: r, c: a[9] > 0 ? "sg d" : "sg k", l: label, t: label, s: s };
    if (a[12]) {
      d.a = {};
      for (var k in s) d.a[k] = s[k];
      d.a.frame = String(a[12]);
      d.a.time = a[17] ? "+" + a[17] + " ms" : "";
      d.a.at = to;
      d.a.note = notes[a[13]] || "";
      d.a.of = String(a[3]);
    }
    return d;
  }
  function relayout(svg) {
    var fds = svg.querySelectorAll(".fd"), starts = [];
    for (var i = 0; i < fds.length; i++) starts.push([+fds[i].getAttribute("data-r"), +fds[i].getAttribute("data-n")]);
    var y = function (k) {
      var skip = 0;
      for (var i = 0; i < starts.length; i++) {
        if (starts[i][0] > k) break;
        if (k < starts[i][0] + starts[i][1]) { skip += k - starts[i][0]; break; }
        skip += starts[i][1] - 1;
      }
      return TOP + (k - skip) * RH + RH / 2;
    };
    var ts = svg.querySelectorAll("text[data-r]");
    for (var j = 0; j < ts.length; j++) ts[j].setAttribute("y", y(+ts[j].getAttribute("data-r")) + 4);
    var gs = svg.querySelectorAll("g.sg[data-rows]");
    for (j = 0; j < gs.length; j++) {
      var r = gs[j].getAttribute("data-rows").split(" ");
      place(gs[j], y(+r[0]), y(+r[1]));
    }
    for (j = 0; j < fds.length; j++) {
      var y0 = y(starts[j][0]) - RH / 2, rs = fds[j].querySelectorAll("rect"), tx = fds[j].querySelectorAll("text");
      if (rs[0]) rs[0].setAttribute("y", y0 + 2);
      if (rs[1]) rs[1].setAttribute("y", y0 + 2);
      for (var m = 0; m < tx.length; m++) tx[m].setAttribute("y", y0 + RH / 2 + 4);
    }
    var last = svg.querySelectorAll("text[data-r]"), n = 0;
    for (j = 0; j < last.length; j++) n = Math.max(n, y(+last[j].getAttribute("data-r")));
    for (j = 0; j < starts.length; j++) n = Math.max(n, y(starts[j][0]));
    var h = Math.round(n + RH / 2 + 12);
    svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + svg.getAttribute("width") + " " + h);
    var vl = svg.querySelectorAll(".vl");
    for (j = 0; j < vl.length; j++) vl[j].setAttribute("y2", h - 4);
  }
  function expand(fd) {
    if (!fd) return;
    var src = document.getElementById(fd.getAttribute("data-fold"));
    var f;
    try { f = JSON.parse(src ? src.textContent : "null"); } catch (e) { f = null; }
    var svg = fd.ownerSVGElement;
    if (!f || !svg) return;
    var g = el("g", {});
    (f.t || []).forEach(function (ms, j) {
      g.appendChild(el("text", { "class": "mu", x: 4, "data-r": f.from + j }, ms));
    });
    (f.s || []).forEach(function (a) { g.appendChild(drawSeg(fromArr(f, a))); });
    fd.parentNode.replaceChild(g, fd);
    relayout(svg);
  }

  // Filters of the timeline: one style rule per box unticked.
  var flt = document.getElementById("flt");
  if (flt) {
    var rule = document.createElement("style");
    document.head.appendChild(rule);
    flt.addEventListener("change", function () {
      var css = "";
      var boxes = flt.querySelectorAll("input");
      for (var i = 0; i < boxes.length; i++) {
        var b = boxes[i];
        if (b.checked) continue;
        var a = b.getAttribute("data-fa"), c = b.getAttribute("data-fc");
        if (a !== null) css += '#tl tr[data-a="' + a.replace(/["\\]/g, "\\$&") + '"]{display:none}';
        if (c !== null) css += '#tl tr[data-c="' + c.replace(/[^0-9]/g, "") + '"]{display:none}';
      }
      rule.textContent = css;
    });
  }

  // #frame=N pins frame N (opening its fold when it is folded).
  var m = /^#frame=(\d+)$/.exec(location.hash || "");
  if (m) {
    var seg = byFrame(m[1]), fd = foldedData(m[1]);
    if (!seg && fd) {
      expand(document.querySelector('.fd[data-fold="' + fd.fold + '"]'));
      seg = byFrame(m[1]);
    }
    if (seg) {
      pin(seg);
      if (seg.scrollIntoView) seg.scrollIntoView({ block: "center" });
    }
  }
})();
