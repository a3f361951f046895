// Benchmark peer: the original JavaScript clmtrackr 1.1.2 (npm), run in Debian's headless Chromium
// (playwright-core from web/test/node_modules) on a folder of stills or on a video's frames, used
// the way its own example pages use it. Writes one JSON line per image or frame with the fields of
// `headroom fit --json` (points in the original image's pixels) plus a few of its own.
//
//   node bench/clmtrackr/run.mjs --images tests/fixtures/faces [--out FILE] [--trace] [--limit N]
//   node bench/clmtrackr/run.mjs --video assets/demo/franck.mp4 --frames 100 [--out FILE]
//   options: --clmtrackr DIR (the unpacked npm package; default
//            $HOME/.cache/headroom-tools/clmtrackr/package), --model model_pca_20_svm.js,
//            --webgl on|off (clmtrackr's useWebGL; on, as in the examples), --timeout S (per image
//            or frame, default 20), --iters-per-frame N (video, default 1), --video-height H
//            (video, default 300 as clm_video.html; 0 = the clip's own size), --fit-size WxH
//            (stills, default 700x500 as clm_image.html), --port P (default: any free port)
//
// Stills, as examples/clm_image.html: the image is drawn on a canvas scaled to fit 700×500 (only
// if it is larger, aspect kept), then `new clm.tracker({stopOnConvergence: true})`, `init(pModel)`,
// `start(canvas)`, and the run ends at the first clmtrackrConverged / clmtrackrNotFound /
// clmtrackrLost document event (the example calls ctrack.stop() on NotFound and Lost) or at the
// timeout. A fresh tracker per image (the example reuses one with reset(), which keeps
// facecheck_count and the last score across images).
//
// Video: examples/clm_video.html runs `ctrack.start(video)`: a requestAnimationFrame loop that
// calls `ctrack.track(video)` as often as fits in 16 ms per animation frame, on whatever frame the
// playing video shows, so the number of fits per video frame depends on the machine. Here the
// frames are drawn one by one on a canvas the size clm_video.html gives its <video> (300 px high,
// width from the clip's aspect) and `ctrack.track(canvas)` (the same call the rAF loop makes) is
// called --iters-per-frame times per frame (default 1: one fit per frame, like `headroom fit`),
// which is deterministic. `start(canvas)` + `stop()` once first, because only start() hands the
// element to the face detector (faceDetector.init). When track() returns false (detection in
// flight after the first frame or after a loss) the frame waits for the detector's answer and
// tracks again; after clmtrackrNotFound the next frame tries again.
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const usage = () => {
  console.error('usage: node bench/clmtrackr/run.mjs (--images DIR | --video FILE.mp4 --frames N) [--out FILE] [--trace] [--limit N]');
  console.error('       [--clmtrackr DIR] [--model model_pca_20_svm.js] [--webgl on|off] [--timeout S] [--iters-per-frame N]');
  console.error('       [--video-height H] [--fit-size WxH] [--port P]');
  process.exit(1);
};

const clmDir = path.resolve(arg('clmtrackr', path.join(os.homedir(), '.cache/headroom-tools/clmtrackr/package')));
const modelFile = arg('model', 'model_pca_20_svm.js');
const imagesDir = arg('images');
const videoFile = arg('video');
const frames = Number(arg('frames', '0'));
const limit = Number(arg('limit', '0'));
const trace = flag('trace');
const webgl = arg('webgl', 'on') !== 'off';
const timeoutMs = Number(arg('timeout', '20')) * 1000;
const itersPerFrame = Math.max(1, Number(arg('iters-per-frame', '1')));
const videoHeight = Number(arg('video-height', '300'));
const [fitW, fitH] = arg('fit-size', '700x500').split('x').map(Number);
const outFile = arg('out');
if (!imagesDir === !videoFile || (videoFile && !(frames > 0)) || !(fitW > 0 && fitH > 0)) usage();

if (!fs.existsSync(path.join(clmDir, 'build/clmtrackr.js')) || !fs.existsSync(path.join(clmDir, 'models', modelFile))) {
  const parent = path.dirname(clmDir);
  console.error(`clmtrackr 1.1.2 not found: no ${path.join(clmDir, 'build/clmtrackr.js')} or ${path.join(clmDir, 'models', modelFile)}.`);
  console.error('Fetch it (the npm tarball unpacks into package/; `npm i clmtrackr` fails on its git-hosted jsfeat dependency):');
  console.error(`  mkdir -p ${parent} && cd ${parent} && npm pack clmtrackr@1.1.2 && tar xzf clmtrackr-1.1.2.tgz`);
  console.error(`or pass --clmtrackr DIR (the unpacked package/ folder).`);
  process.exit(2);
}

let chromium;
try {
  ({ chromium } = createRequire(path.join(repo, 'web/test/package.json'))('playwright-core'));
} catch (e) {
  console.error(`playwright-core not found under web/test/node_modules (cd web/test && npm install): ${e.message}`);
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// ---- inputs ----
let tmpDir = null;
let files; // [{ name (served file), source (record's source), timestamp_ms }]
let serveDir;
if (imagesDir) {
  serveDir = path.resolve(imagesDir);
  files = fs
    .readdirSync(serveDir)
    .filter((f) => /\.(jpe?g|png)$/i.test(f) && fs.statSync(path.join(serveDir, f)).isFile())
    .sort()
    .map((f) => ({ name: f, source: f, timestamp_ms: 0 }));
  if (limit > 0) files = files.slice(0, limit);
  if (files.length === 0) {
    console.error(`${serveDir}: no JPEG or PNG images`);
    process.exit(1);
  }
} else {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clmtrackr-frames-'));
  serveDir = tmpDir;
  const ff = spawnSync('ffmpeg', ['-v', 'error', '-i', videoFile, '-frames:v', String(frames), '-vsync', '0', path.join(tmpDir, '%06d.png')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (ff.status !== 0) {
    console.error(`ffmpeg failed on ${videoFile} (is ffmpeg on PATH?)`);
    process.exit(1);
  }
  let fps = 0;
  const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=avg_frame_rate', '-of', 'csv=p=0', videoFile], { encoding: 'utf8' });
  if (probe.status === 0) {
    const [a, b] = probe.stdout.trim().split('/').map(Number);
    fps = b ? a / b : a || 0;
  }
  files = fs
    .readdirSync(tmpDir)
    .filter((f) => f.endsWith('.png'))
    .sort()
    .map((f, i) => ({ name: f, source: String(i), timestamp_ms: fps ? (i * 1000) / fps : 0 }));
}

// ---- the page ----
// Runs before clmtrackr.js: wraps Worker so that the face detector's answer (its web worker posts
// {faces: [{x, y, width, height, neighbors, confidence}]} in canvas pixels) can be recorded.
const harness = String.raw`
(function () {
  var W = window.Worker;
  window.__workers = [];
  window.__faces = null;
  window.Worker = class extends W {
    constructor(url, o) {
      super(url, o);
      window.__workers.push(this);
      this.addEventListener('message', function (e) {
        if (e.data && e.data.faces) window.__faces = e.data.faces;
      });
    }
  };
})();
var H = { cur: null };
[['clmtrackrConverged', 'converged'], ['clmtrackrNotFound', 'notFound'], ['clmtrackrLost', 'lost'],
 ['clmtrackrIteration', 'iteration'], ['clmtrackrBeforeTrack', 'beforeTrack']].forEach(function (p) {
  document.addEventListener(p[0], function () { if (H.cur) H.cur.on(p[1]); }, false);
});
function loadImage(url) {
  return new Promise(function (ok, bad) {
    var i = new Image();
    i.onload = function () { ok(i); };
    i.onerror = function () { bad(new Error('cannot load ' + url)); };
    i.src = url;
  });
}
// 'webgl' or 'js': setResponseMode only logs this line when the tracker has no WebGL filter.
function filterKind(ctrack) {
  var log = console.log, msg = '';
  console.log = function (m) { msg += String(m); };
  try { ctrack.setResponseMode('single', ['raw']); } finally { console.log = log; }
  return msg.indexOf('only allowed when using webGL') >= 0 ? 'js' : 'webgl';
}
function endWorkers() { window.__workers.splice(0).forEach(function (w) { w.terminate(); }); }
function scaled(pts, s) { return pts ? pts.map(function (p) { return [p[0] / s, p[1] / s]; }) : null; }
function boxOf(s) {
  var f = window.__faces && window.__faces[0];
  return f ? [Math.round(f.x / s), Math.round(f.y / s), Math.round(f.width / s), Math.round(f.height / s)] : null;
}
function nextFrame() { return new Promise(function (r) { requestAnimationFrame(function () { r(); }); }); }

// One still, as clm_image.html.
async function fitStill(url, o) {
  var img = await loadImage(url);
  var canvas = document.getElementById('image');
  var cc = canvas.getContext('2d');
  // clm_image.html's loadImage(): fit into 700×500 if larger, aspect kept.
  var neww = img.width, newh = img.height;
  if (img.height > o.fitH || img.width > o.fitW) {
    var rel = img.height / img.width;
    neww = o.fitW;
    newh = neww * rel;
    if (newh > o.fitH) { newh = o.fitH; neww = newh / rel; }
  }
  canvas.setAttribute('width', neww);
  canvas.setAttribute('height', newh);
  cc.drawImage(img, 0, 0, neww, newh);
  var s = neww / img.width; // canvas pixels per image pixel (the same for both axes)

  var ctrack = new clm.tracker({ stopOnConvergence: true, useWebGL: o.webgl });
  ctrack.init(window.pModel);
  var filter = filterKind(ctrack);
  window.__faces = null;
  var st = { events: [], later: [], iterations: 0, trace: [], init: null, last: null, end: null };
  var t0 = performance.now();
  await new Promise(function (resolve) {
    var finish = function (kind) {
      if (st.end) { st.later.push(kind); return; }
      var pos = ctrack.getCurrentPosition();
      st.end = { kind: kind, ms: performance.now() - t0, iterations: st.iterations, score: ctrack.getScore(),
                 points: pos ? scaled(pos, s) : null };
      st.events.push(kind);
      clearTimeout(st.timer);
      ctrack.stop();
      // stopOnConvergence only cancels the next animation frame: the running frame's loop keeps
      // calling track() until its 16 ms are up. Count those, then return.
      nextFrame().then(resolve);
    };
    st.on = function (k) {
      if (k === 'beforeTrack') {
        if (o.trace && !st.init && st.iterations === 0 && ctrack.getCurrentPosition()) {
          st.init = { params: ctrack.getCurrentParameters().slice(), points: scaled(ctrack.getCurrentPosition(), s) };
        }
        return;
      }
      if (k === 'iteration') {
        st.iterations++;
        if (st.firstMs === undefined) st.firstMs = performance.now() - t0;
        st.last = scaled(ctrack.getCurrentPosition(), s);
        if (o.trace && !st.end) st.trace.push({ params: ctrack.getCurrentParameters().slice(), points: st.last });
        return;
      }
      finish(k);
    };
    H.cur = st;
    st.timer = setTimeout(function () { finish('timeout'); }, o.timeoutMs);
    ctrack.start(canvas);
  });
  H.cur = null;
  endWorkers();
  var e = st.end;
  var found = (e.kind === 'converged' || e.kind === 'timeout') && !!e.points;
  var rec = {
    found: found, points: found ? e.points : [], score: e.score, converged: e.kind === 'converged',
    face_box: boxOf(s), ms: e.ms, detect_ms: 0, fit_ms: 0, events: st.events,
    iterations: e.iterations, iterations_run: st.iterations, first_iteration_ms: st.firstMs === undefined ? null : st.firstMs,
    filter: filter, canvas: [canvas.width, canvas.height], scale: s,
  };
  if (e.kind === 'lost') rec.last_points = st.last;
  if (o.trace) { rec.init = st.init; rec.trace = st.trace; }
  return rec;
}

// Video: one tracker over all frames.
var V = null;
async function videoSetup(url, o) {
  var img = await loadImage(url);
  var canvas = document.getElementById('image');
  var h = o.videoHeight > 0 ? o.videoHeight : img.height;
  // clm_video.html: <video width=400 height=300>, width then set to round(height × aspect).
  var w = o.videoHeight > 0 ? Math.round(h * img.width / img.height) : img.width;
  canvas.width = w;
  canvas.height = h;
  var ctrack = new clm.tracker({ useWebGL: o.webgl });
  ctrack.init(window.pModel);
  V = { ctrack: ctrack, canvas: canvas, s: w / img.width, filter: filterKind(ctrack) };
  window.__faces = null;
  canvas.getContext('2d').drawImage(img, 0, 0, w, h);
  ctrack.start(canvas); // hands the canvas to the face detector (faceDetector.init) ...
  ctrack.stop(); // ... and cancels the rAF loop: track() is called below, frame by frame
  return { filter: V.filter, canvas: [w, h], scale: V.s };
}
async function trackVideoFrame(url, o) {
  var img = await loadImage(url);
  var ctrack = V.ctrack, s = V.s;
  V.canvas.getContext('2d').drawImage(img, 0, 0, V.canvas.width, V.canvas.height);
  var st = { events: [], iterations: 0, trace: [] };
  st.on = function (k) {
    if (k === 'beforeTrack') return;
    if (k === 'iteration') {
      st.iterations++;
      if (o.trace) st.trace.push({ params: ctrack.getCurrentParameters().slice(), points: scaled(ctrack.getCurrentPosition(), s) });
      return;
    }
    if (k === 'converged' && st.events.indexOf('converged') >= 0) return; // fires on every iteration while it holds
    st.events.push(k);
  };
  H.cur = st;
  var t0 = performance.now();
  var done = 0, waited = false;
  while (done < o.itersPerFrame) {
    var r = ctrack.track(V.canvas);
    if (r) {
      if (waited) st.events.push('detected'); // the first fit after a detection
      waited = false;
      done++;
      continue;
    }
    waited = true;
    // false: a detection was started or is in flight (first frame, or the fit was just lost)
    if (st.events.indexOf('notFound') >= 0) break;
    if (performance.now() - t0 > o.timeoutMs) { st.events.push('timeout'); break; }
    await new Promise(function (r) { setTimeout(r, 0); });
  }
  var ms = performance.now() - t0;
  H.cur = null;
  var pos = ctrack.getCurrentPosition();
  var rec = {
    found: !!pos, points: pos ? scaled(pos, s) : [], score: ctrack.getScore(), converged: st.events.indexOf('converged') >= 0,
    face_box: pos ? boxOf(s) : null, ms: ms, detect_ms: 0, fit_ms: 0, events: st.events, iterations: st.iterations,
  };
  if (o.trace) rec.trace = st.trace;
  return rec;
}
`;
const page = `<!doctype html><html><head><meta charset="utf-8"><title>clmtrackr bench</title></head>
<body><canvas id="image" width="625" height="500"></canvas>
<script>${harness}</script>
<script src="/clm/build/clmtrackr.js"></script>
<script src="/clm/models/${modelFile}"></script>
</body></html>`;

const types = { '.js': 'text/javascript', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.html': 'text/html' };
const inside = (root, rel) => {
  const p = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  return p.startsWith(root + path.sep) ? p : null;
};
const server = createServer((req, res) => {
  const u = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = null;
  if (u === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page);
  }
  if (u === '/favicon.ico') {
    res.writeHead(204);
    return res.end();
  }
  if (u.startsWith('/clm/')) file = inside(clmDir, u.slice(5));
  else if (u.startsWith('/img/')) file = inside(serveDir, u.slice(5));
  if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': types[path.extname(file).toLowerCase()] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((ok) => server.listen(Number(arg('port', '0')), '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const out = outFile ? fs.createWriteStream(outFile) : process.stdout;
const write = (rec) => out.write(JSON.stringify(rec) + '\n');
const args = [
  '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
  // WebGL 1 with float textures on ANGLE's SwiftShader (what clmtrackr's WebGL filter needs).
  '--use-angle=swiftshader',
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];
const opts = { fitW, fitH, webgl, timeoutMs, trace, itersPerFrame, videoHeight };
const recs = [];
let browser;
let code = 0;
try {
  browser = await chromium.launch({ executablePath, headless: true, args });
  const tab = await browser.newPage({ viewport: { width: 800, height: 600 } });
  tab.on('pageerror', (e) => console.error(`  page error: ${e}`));
  tab.on('console', (m) => {
    // clmtrackr reads patches back with getImageData on every iteration; Chromium's hint about
    // willReadFrequently is printed once per canvas and says nothing about the fit.
    if ((m.type() === 'error' || m.type() === 'warning') && !m.text().includes('willReadFrequently')) {
      console.error(`  page ${m.type()}: ${m.text().slice(0, 300)}`);
    }
  });
  tab.on('dialog', (d) => {
    console.error(`  page alert: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await tab.goto(`${origin}/`);
  await tab.waitForFunction(() => window.clm && window.pModel);
  if (imagesDir) {
    for (const f of files) {
      const rec = await tab.evaluate(([url, o]) => fitStill(url, o), [`/img/${encodeURIComponent(f.name)}`, opts]);
      const full = { source: f.source, timestamp_ms: f.timestamp_ms, ...rec };
      recs.push(full);
      write(full);
    }
  } else {
    const setup = await tab.evaluate(([url, o]) => videoSetup(url, o), [`/img/${encodeURIComponent(files[0].name)}`, opts]);
    console.error(`video: ${files.length} frames tracked on a ${setup.canvas[0]}×${setup.canvas[1]} canvas (${setup.filter} filter), ${itersPerFrame} track() per frame`);
    for (const f of files) {
      const rec = await tab.evaluate(([url, o]) => trackVideoFrame(url, o), [`/img/${encodeURIComponent(f.name)}`, opts]);
      const full = { source: f.source, timestamp_ms: f.timestamp_ms, ...rec };
      recs.push(full);
      write(full);
    }
  }
} catch (e) {
  console.error(`clmtrackr run failed: ${e.stack || e}`);
  code = 1;
} finally {
  if (browser) await browser.close();
  server.close();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  if (outFile) await new Promise((ok) => out.end(ok));
}

const ms = recs.map((r) => r.ms).sort((a, b) => a - b);
const median = (v) => (v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : 0);
const mean = (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
const found = recs.filter((r) => r.found).length;
const converged = recs.filter((r) => r.converged).length;
const what = imagesDir ? 'images' : 'frames';
let line = `clmtrackr 1.1.2 (${recs[0]?.filter ?? (webgl ? 'webgl' : 'js')}): ${recs.length} ${what}, found ${found}, converged ${converged}, ` +
  `${mean(ms).toFixed(1)} ms mean, ${median(ms).toFixed(1)} ms median per ${what.slice(0, -1)}`;
if (imagesDir) {
  const it = recs.filter((r) => r.converged).map((r) => r.iterations).sort((a, b) => a - b);
  const ev = (k) => recs.filter((r) => r.events.includes(k)).length;
  line += `; iterations to converge: median ${median(it)}, range ${it[0] ?? '-'}–${it[it.length - 1] ?? '-'}; notFound ${ev('notFound')}, lost ${ev('lost')}, timeout ${ev('timeout')}`;
} else {
  const ev = (k) => recs.reduce((n, r) => n + r.events.filter((e) => e === k).length, 0);
  line += `; detections ${ev('detected')}, notFound ${ev('notFound')}, losses ${ev('lost')}`;
}
console.error(line);
process.exit(code);
