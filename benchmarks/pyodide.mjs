// Guests under wasifs's Pyodide binding and under @bjorn3/browser_wasi_shim, in one Node run.
//   node benchmarks/pyodide.mjs JOB.json
// JOB: {"wheels": [...], "runs": [{"name", "wasm", "args": [...]}], "reps": N}
// Each run executes `reps` times under each runtime, interleaved; the guests time themselves
// and print "@bench <metric> <count> <ns>" lines. Prints one JSON object:
// {"pyodide": {metric: [ns per call...]}, "shim": {...}}.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { loadPyodide } = await import(require.resolve("pyodide/pyodide.mjs"));
const shim = await import(require.resolve("@bjorn3/browser_wasi_shim"));
const job = JSON.parse(readFileSync(process.argv[2], "utf8"));

const pyodide = await loadPyodide({
  indexURL: fileURLToPath(new URL("../js/node_modules/pyodide/", import.meta.url)),
});
pyodide.FS.mkdirTree("/tmp/wheels");
for (const w of job.wheels) pyodide.FS.writeFile(`/tmp/wheels/${basename(w)}`, readFileSync(w));
pyodide.runPython(`
import os, sysconfig, zipfile
for w in os.listdir("/tmp/wheels"):
    zipfile.ZipFile("/tmp/wheels/" + w).extractall(sysconfig.get_paths()["purelib"])
import wasifs.bind.pyodide as wp
from wasifs.backends.memory import MemoryFileSystem
def bench(wasm, args):
    r = wp.run(wasm, args=list(args), mounts={"/bench": MemoryFileSystem()})
    if r.exit_code != 0 and len(args) > 2:
        raise RuntimeError(f"exit {r.exit_code}: {r.stderr!r} {r.trap}")
    return r.stdout.decode()
`);
const pyBench = pyodide.globals.get("bench");

function runShim(module, args) {
  let out = "";
  const stdout = shim.ConsoleStdout.lineBuffered((line) => { out += line + "\n"; });
  const stderr = shim.ConsoleStdout.lineBuffered((line) => process.stderr.write(line + "\n"));
  const fds = [new shim.OpenFile(new shim.File([])), stdout, stderr,
               new shim.PreopenDirectory("/bench", new Map())];
  const wasi = new shim.WASI(args, [], fds);
  const inst = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport });
  const code = wasi.start(inst);
  if (code !== 0) throw new Error(`browser_wasi_shim: exit ${code}`);
  return out;
}

const parse = (text, into) => {
  for (const line of text.split("\n")) {
    const m = line.match(/^@bench (\S+) (\d+) (\d+)$/);
    if (m) (into[m[1]] ??= []).push(Number(m[3]) / Number(m[2]));
  }
};
const results = { pyodide: {}, shim: {}, versions: {
  pyodide: pyodide.version, node: process.version,
  shim: JSON.parse(readFileSync(new URL("../js/node_modules/@bjorn3/browser_wasi_shim/package.json",
                                        import.meta.url))).version,
} };
for (const run of job.runs) {
  const bytes = readFileSync(run.wasm);
  const module = new WebAssembly.Module(bytes);
  const u8 = new Uint8Array(bytes);
  const args = [run.name, ...run.args];
  pyBench(u8, pyodide.toPy(args.slice(0, 2))); // warm-up (usage only)
  for (let i = 0; i < job.reps; i++) {
    parse(pyBench(u8, pyodide.toPy(args)), results.pyodide);
    parse(runShim(module, args), results.shim);
  }
}
console.log(JSON.stringify(results));
