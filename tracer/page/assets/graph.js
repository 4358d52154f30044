// The graphs' zoom (seqgraph.go, cwnd.go): each figure.g-zoom holds an
// svg whose plot content is in g.g-zoomed and whose time axis is in
// g.g-xaxis; the svg's data-x0 and data-pw are the plot's left edge and
// width in px, data-t0 and data-t1 the times there, data-unit their
// unit. Zooming stretches g.g-zoomed across (marks in g.g-pin keep
// their shape) and draws the axis again. Drag across the plot to show
// that time range; Ctrl or Shift and the wheel zoom around the pointer;
// the +, − and reset buttons; a double-click shows it all again.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  // ticks returns about n round values from lo to hi, and their step,
  // as gTicks does in Go.
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [[lo], 1];
    var raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    var step = r < 1.5 ? mag : r < 3.5 ? 2 * mag : r < 7.5 ? 5 * mag : 10 * mag;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 100; v += step) out.push(v);
    return [out, step];
  }

  function label(v, step) {
    var dec = step < 1 ? Math.ceil(-Math.log10(step) - 1e-9) : 0;
    var s = v.toFixed(dec);
    if (s === "-0") s = "0";
    var parts = s.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return parts.join(".");
  }

  function setup(fig) {
    var svg = fig.querySelector("svg.g-svg");
    if (!svg || fig.getAttribute("data-g-ready")) return;
    var zg = svg.querySelector(".g-zoomed"), axis = svg.querySelector(".g-xaxis"), sel = svg.querySelector(".g-sel");
    var x0 = +svg.getAttribute("data-x0"), pw = +svg.getAttribute("data-pw");
    var t0 = +svg.getAttribute("data-t0"), t1 = +svg.getAttribute("data-t1");
    if (!zg || !axis || !(pw > 0) || !(t1 > t0)) return;
    fig.setAttribute("data-g-ready", "1");
    var baseY = 0;
    var tick = axis.querySelector("path");
    if (tick) {
      var m = /M[-0-9.]+ ([-0-9.]+)/.exec(tick.getAttribute("d") || "");
      if (m) baseY = +m[1];
    }
    var lo = t0, hi = t1;
    var pins = Array.prototype.map.call(zg.querySelectorAll(".g-pin"), function (el) {
      return [el, el.getAttribute("transform") || ""];
    });

    function drawAxis() {
      while (axis.firstChild) axis.removeChild(axis.firstChild);
      var tk = ticks(lo, hi, 7);
      tk[0].forEach(function (v) {
        var x = x0 + (v - lo) / (hi - lo) * pw;
        var p = document.createElementNS(NS, "path");
        p.setAttribute("class", "g-tick");
        p.setAttribute("d", "M" + x.toFixed(1) + " " + baseY + "v5");
        var t = document.createElementNS(NS, "text");
        t.setAttribute("class", "g-tl");
        t.setAttribute("x", x.toFixed(1));
        t.setAttribute("y", baseY + 18);
        t.setAttribute("text-anchor", "middle");
        t.textContent = label(v, tk[1]);
        axis.appendChild(p);
        axis.appendChild(t);
      });
    }

    function show(a, b) {
      var min = (t1 - t0) / 2000;
      if (!(b - a >= min)) {
        var c = (a + b) / 2;
        a = c - min / 2;
        b = c + min / 2;
      }
      if (b - a > t1 - t0) { a = t0; b = t1; }
      if (a < t0) { b += t0 - a; a = t0; }
      if (b > t1) { a -= b - t1; b = t1; }
      lo = Math.max(a, t0);
      hi = Math.min(b, t1);
      var s = +((t1 - t0) / (hi - lo)).toPrecision(8);
      var tx = +(x0 * (1 - s) - s * (lo - t0) / (t1 - t0) * pw).toFixed(3);
      if (s === 1) zg.removeAttribute("transform");
      else zg.setAttribute("transform", "translate(" + tx + " 0) scale(" + s + " 1)");
      pins.forEach(function (p) {
        p[0].setAttribute("transform", s === 1 ? p[1] : p[1] + " scale(" + +(1 / s).toPrecision(8) + " 1)");
      });
      drawAxis();
    }

    function zoom(f, at) {
      if (at === undefined) at = (lo + hi) / 2;
      show(at - (at - lo) / f, at + (hi - at) / f);
    }

    // svgX turns a pointer's clientX into the svg's x.
    function svgX(ev) {
      var r = svg.getBoundingClientRect(), vb = svg.viewBox && svg.viewBox.baseVal;
      var w = vb && vb.width ? vb.width : r.width;
      return r.width ? (ev.clientX - r.left) * w / r.width : 0;
    }
    function timeAt(x) { return lo + (x - x0) / pw * (hi - lo); }

    function on(el, type, f, opts) {
      if (!el) return;
      el.addEventListener(type, function (ev) {
        try { f(ev); } catch (e) { /* a graph must never break the page */ }
      }, opts || false);
    }
    on(fig.querySelector(".g-in"), "click", function () { zoom(2); });
    on(fig.querySelector(".g-out"), "click", function () { zoom(0.5); });
    on(fig.querySelector(".g-reset"), "click", function () { show(t0, t1); });
    on(svg, "dblclick", function () { show(t0, t1); });
    on(svg, "wheel", function (ev) {
      if (!ev.ctrlKey && !ev.shiftKey) return;
      var x = svgX(ev);
      if (x < x0 || x > x0 + pw) return;
      ev.preventDefault();
      var d = ev.deltaY || ev.deltaX;
      zoom(d < 0 ? 1.25 : 0.8, timeAt(x));
    }, { passive: false });

    // Drag across the plot: the selection, then its time range.
    var from = null;
    function clamp(x) { return Math.min(Math.max(x, x0), x0 + pw); }
    on(svg, "pointerdown", function (ev) {
      if (ev.button !== 0) return;
      var x = svgX(ev);
      if (x < x0 || x > x0 + pw) return;
      from = x;
    });
    on(window, "pointermove", function (ev) {
      if (from === null || !sel) return;
      var x = clamp(svgX(ev));
      var plot = svg.querySelector(".g-plot");
      sel.setAttribute("x", Math.min(from, x));
      sel.setAttribute("width", Math.abs(x - from));
      sel.setAttribute("y", plot ? plot.getAttribute("y") : 0);
      sel.setAttribute("height", plot ? plot.getAttribute("height") : 0);
    });
    on(window, "pointerup", function (ev) {
      if (from === null) return;
      var x = clamp(svgX(ev)), a = from;
      from = null;
      if (sel) sel.setAttribute("width", 0);
      if (Math.abs(x - a) < 4) return; // a click: the page's, for a mark
      show(timeAt(Math.min(a, x)), timeAt(Math.max(a, x)));
    });
  }

  function all() {
    var figs = document.querySelectorAll("figure.g-zoom");
    for (var i = 0; i < figs.length; i++) {
      try { setup(figs[i]); } catch (e) { /* leave this graph as drawn */ }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
})();
