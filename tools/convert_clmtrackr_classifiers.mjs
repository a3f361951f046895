// clmtrackr 1.1.2's emotion and gender classifiers (logistic regressions on the CLM's shape
// parameters 6…23, `examples/js/emotionmodel.js`, `gendermodel.js`, MIT) → one project-owned
// JSON file, and a reference fixture computed by clmtrackr's own `emotion_classifier.js`.
//
//   node tools/convert_clmtrackr_classifiers.mjs package/examples/js \
//     assets/models/clmtrackr-classifiers.json plugins/facelab/tests/fixtures/classifier_reference.json
import fs from "node:fs";
import vm from "node:vm";

const [dir, out, fixture] = process.argv.slice(2);
const load = (file) => {
  const ctx = {};
  vm.createContext(ctx);
  // The files declare `var emotionModel = {…}` (gendermodel.js reuses the name).
  vm.runInContext(fs.readFileSync(`${dir}/${file}`, "utf8") + "\n;this.__m = emotionModel;", ctx);
  return ctx.__m;
};
const emotion = load("emotionmodel.js");
const gender = load("gendermodel.js");
const model = {
  format: "headroom-clm-classifiers",
  version: 1,
  source: "clmtrackr 1.1.2 examples/js/emotionmodel.js and gendermodel.js (MIT): logistic regressions on CLM parameters 6..23",
  parameter_offset: 6,
  emotion,
  gender,
};
fs.writeFileSync(out, JSON.stringify(model, null, 1));

// The reference: clmtrackr's classifier code itself on seeded parameter vectors.
const ctx = {};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(`${dir}/emotion_classifier.js`, "utf8") + "\n;this.EC = emotionClassifier;", ctx);
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const vectors = [];
for (let k = 0; k < 24; k++) {
  const p = [];
  for (let i = 0; i < 24; i++) p.push(i < 4 ? rand() * 100 : (rand() - 0.5) * 30 * (k % 4 + 1) / 2);
  vectors.push(p);
}
const run = (m) => {
  const ec = new ctx.EC();
  ec.init(JSON.parse(JSON.stringify(m)));
  return vectors.map((v) => Object.fromEntries(ec.predict(v).map((r) => [r.emotion, r.value])));
};
// meanPredict over a sequence of 12 frames (the mean of the last 10 from the 10th on).
const ecm = new ctx.EC();
ecm.init(JSON.parse(JSON.stringify(emotion)));
const mean = vectors.slice(0, 12).map((v) => {
  const r = ecm.meanPredict(v);
  return r ? Object.fromEntries(r.map((x) => [x.emotion, x.value])) : null;
});
fs.writeFileSync(fixture, JSON.stringify({
  source: "clmtrackr 1.1.2 examples/js/emotion_classifier.js run in node by tools/convert_clmtrackr_classifiers.mjs",
  vectors, emotion: run(emotion), gender: run(gender), emotion_mean_of_sequence: mean,
}));
console.log(`emotions ${Object.keys(emotion)}, genders ${Object.keys(gender)}, ${vectors.length} vectors`);
