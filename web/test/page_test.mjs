// Loads the served web build in Debian's headless Chromium with a fake camera and checks, from
// the app's own log lines: the menu appears, the fake camera's frames reach the app, FaceKat
// starts, the demo gallery loads over HTTP, Face Lab's face swap blends frames (`?effect=swap`);
// then, in a browser that refuses the camera, the demo clip takes over. Saves screenshots
// (docs/web.png, docs/web-gallery.png and docs/web-facelab.png beside it) and prints load-to-menu
// time.
// On the WebGPU build it also presses the gallery's "relayout live" (t-SNE in a compute shader, read
// back into the map) and lets the page pick its build by itself.
//   node web/test/page_test.mjs [--build webgpu|webgl2] [--port 8093] [--shot docs/web.png]
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', '8093'));
const build = arg('build', 'webgpu');
const shot = path.resolve(repo, arg('shot', 'docs/web.png'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const server = spawn('python3', [path.join(repo, 'web/serve'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((ok, bad) => {
  server.stdout.on('data', (d) => String(d).includes('serving') && ok());
  server.on('exit', (c) => bad(new Error(`web/serve exited with ${c} (did web/build.sh run?)`)));
});

const logs = [];
const waiters = [];
// A console line without Bevy's %c styling: "%cINFO%c file:line%c text color: …" → "text".
const clean = (l) => l.slice(l.lastIndexOf('%c') >= 0 ? l.lastIndexOf('%c') + 2 : 0).replace(/ color: .*$/, '').trim();
const seen = (needle) => logs.some((l) => l.includes(needle));
const waitFor = (needle, seconds) =>
  new Promise((ok, bad) => {
    if (seen(needle)) return ok();
    const timer = setTimeout(() => bad(new Error(`no "${needle}" in the page's log after ${seconds} s`)), seconds * 1000);
    waiters.push({ needle, done: () => (clearTimeout(timer), ok()), fail: (e) => (clearTimeout(timer), bad(e)) });
  });

const common = [
  '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--use-fake-device-for-media-stream',
  '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--autoplay-policy=no-user-gesture-required',
  // WebGPU: SwiftShader through ANGLE's and Dawn's Vulkan backends. With ANGLE on SwiftShader GL
  // (Chromium's headless default) a WebGPU canvas cannot present: the GPU process finds no
  // shared-image backing for the WebGPU swap chain and every WebGPU device is lost ("A valid
  // external Instance reference no longer exists") at the first frame, even for a ten-line JS page.
  // WebGL2: ANGLE on SwiftShader GL (with ANGLE on Vulkan here, Chromium offers no WebGL2).
  ...(build === 'webgpu' ? ['--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=vulkan'] : ['--use-angle=swiftshader']),
  '--enable-unsafe-webgpu',
];
let browser;
let failed = false;
const listen = (page) =>
  page.on('console', (m) => {
    const text = m.text();
    logs.push(text);
    if (/headroom|capture|facekat|gallery|face lab|panicked|error/i.test(text)) console.log(`  page: ${clean(text).slice(0, 200)}`);
    for (const w of waiters.splice(0)) (text.includes(w.needle) ? w.done() : waiters.push(w));
    if (text.includes('headroom: load failed') || text.includes('panicked at')) {
      for (const w of waiters.splice(0)) w.fail(new Error(`the page failed: ${text.slice(0, 300)}`));
    }
  });
try {
  browser = await chromium.launch({ executablePath, headless: true, args: [...common, '--use-fake-ui-for-media-stream'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['camera'], { origin: `http://127.0.0.1:${port}` });
  const page = await context.newPage();
  listen(page);
  page.on('pageerror', (e) => console.log(`  page error: ${e}`));
  const t0 = Date.now();
  await page.goto(`http://127.0.0.1:${port}/?build=${build}`);
  await waitFor('headroom: menu shown', 300);
  const toMenu = (Date.now() - t0) / 1000;
  console.log(`menu shown ${toMenu.toFixed(1)} s after navigation (${build} build)`);
  await waitFor('capture: first frame', 120);
  const frame = logs.find((l) => l.includes('capture: first frame'));
  if (!frame.includes('camera')) throw new Error(`the first frame did not come from the (fake) camera: ${frame}`);
  console.log(`fake camera frames reach the app: ${clean(frame)}`);
  await page.focus('#headroom');
  await page.keyboard.press('1');
  await sleep(3000);
  await page.keyboard.press('Space');
  await waitFor('facekat: playing', 120);
  console.log('FaceKat started');
  await sleep(4000);
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${path.relative(repo, shot)}`);
  // The demo gallery over HTTP (manifest + 8 JPEG atlases).
  await page.keyboard.press('Escape');
  await sleep(1000);
  await page.keyboard.press('2');
  const tg = Date.now();
  await waitFor('works from assets/gallery', 300);
  console.log(`gallery loaded over HTTP in ${((Date.now() - tg) / 1000).toFixed(1)} s: ${logs.find((l) => l.includes('works from')).match(/gallery: \d+ works/)[0]}`);
  await sleep(5000);
  if (build === 'webgpu') {
    // Compute shaders in the browser: the toolbar's "relayout live" button (top left, shown only
    // when the adapter can run compute) re-runs t-SNE on the GPU; positions come back by readback.
    // Hover first (frames take ~1 s here), then press and release together: egui counts a press
    // held longer than 0.8 s as a drag, not a click.
    await page.mouse.move(56, 102);
    await sleep(2500);
    await page.mouse.click(56, 102);
    // With no face in view the mouse stands in for the head: centre it for the screenshot.
    await sleep(1500);
    await page.mouse.move(640, 400);
    await waitFor('live relayout started', 60);
    await waitFor('live relayout: first positions', 120);
    console.log(clean(logs.find((l) => l.includes('first positions'))));
    // Progress is logged every 100 iterations (~75 s here: SwiftShader runs the kernels on the CPU).
    await waitFor('live relayout: progress', 240);
    console.log(clean(logs.find((l) => l.includes('live relayout: progress'))));
  }
  await page.screenshot({ path: shot.replace(/\.png$/, '-gallery.png') });
  if (seen('panicked')) throw new Error('the app panicked (see the log above)');

  // Face Lab's face swap in the browser (`?effect=swap`): the bundled faces are fitted on the
  // page, then each tracked frame is Poisson-blended (the kernel on WebGPU, the CPU on WebGL2).
  logs.length = 0;
  await page.goto(`http://127.0.0.1:${port}/?build=${build}&source=demo&effect=swap`);
  await waitFor('headroom: menu shown', 300);
  await page.focus('#headroom');
  await page.keyboard.press('3');
  await waitFor('face lab: source face', 180);
  await waitFor('face lab: face swap: first blend', 240);
  console.log(clean(logs.find((l) => l.includes('first blend'))));
  await sleep(4000);
  await page.screenshot({ path: shot.replace(/\.png$/, '-facelab.png') });
  if (seen('panicked')) throw new Error('the app panicked in Face Lab (see the log above)');
  await browser.close();

  // A browser that refuses the camera: the demo clip plays instead, with a notice.
  logs.length = 0;
  browser = await chromium.launch({ executablePath, headless: true, args: [...common, '--deny-permission-prompts'] });
  const denied = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  listen(denied);
  // Settings live in localStorage: a corrupt entry must give defaults, a warning and a backup.
  await denied.addInitScript(() => localStorage.setItem('headroom/settings.json', '{ "head": 42, '));
  // The WebGPU run loads this page without ?build=, so the page's own pick is checked too: here
  // (SwiftShader through Vulkan) its probe finds a WebGPU adapter that can draw.
  await denied.goto(`http://127.0.0.1:${port}/` + (build === 'webgpu' ? '' : `?build=${build}`));
  await waitFor('headroom: loading the', 60);
  const picked = logs.find((l) => l.includes('headroom: loading the'));
  if (!picked.includes(`the ${build} build`)) throw new Error(`the page picked another build: ${picked}`);
  await waitFor('showing the demo clip instead', 120);
  await waitFor('capture: first frame', 120);
  const demo = logs.find((l) => l.includes('capture: first frame'));
  if (!demo.includes('demo clip')) throw new Error(`after a refused camera the frames came from: ${demo}`);
  console.log('camera refused → the demo clip plays, with a notice');
  await waitFor('is corrupt', 10);
  const keys = await denied.evaluate(() => Object.keys(localStorage));
  if (!keys.some((k) => k.startsWith('headroom/settings.json.bad-'))) throw new Error(`no backup of the corrupt settings in localStorage: ${keys}`);
  console.log(`corrupt settings in localStorage → defaults, a warning, a backup (${keys.join(', ')})`);
  if (seen('panicked')) throw new Error('the app panicked (see the log above)');
  console.log(`PAGE TEST PASSED (load to menu ${toMenu.toFixed(1)} s)`);
} catch (e) {
  failed = true;
  console.error(`PAGE TEST FAILED: ${e.message}`);
} finally {
  if (browser) await browser.close();
  server.kill();
}
process.exit(failed ? 1 : 0);
