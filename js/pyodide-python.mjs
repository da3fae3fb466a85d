// Run a Python script inside Pyodide, in Node, offline.
//
//   node js/pyodide-python.mjs [--wheel FILE.whl]... [--mount HOSTDIR] SCRIPT.py [ARGS...]
//
// Pyodide comes from the `pyodide` npm package next to this file (no network: the package
// carries the interpreter and its standard library). Each --wheel is unpacked into
// site-packages (the npm package has no micropip; a wheel is a zip file). --mount makes a host
// directory visible at the same path inside Pyodide (NODEFS), for the script's inputs and
// outputs. The script's stdout/stderr go to this process's; its exit status (SystemExit) is
// this process's.
import { loadPyodide } from "pyodide";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { basename, resolve } from "node:path";

const argv = process.argv.slice(2);
const wheels = [];
const mounts = [];
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--wheel") wheels.push(resolve(argv.shift()));
  else if (opt === "--mount") mounts.push(resolve(argv.shift()));
  else throw new Error(`unknown option ${opt}`);
}
if (!argv.length) {
  console.error("usage: pyodide-python.mjs [--wheel W]... [--mount DIR]... SCRIPT [ARGS...]");
  process.exit(2);
}
const [script, ...args] = argv;

const pyodide = await loadPyodide({
  indexURL: fileURLToPath(new URL("./node_modules/pyodide/", import.meta.url)),
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
for (const dir of mounts) {
  pyodide.FS.mkdirTree(dir);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: dir }, dir);
}
for (const wheel of wheels) {
  const target = `/tmp/wheels/${basename(wheel)}`;
  pyodide.FS.mkdirTree("/tmp/wheels");
  pyodide.FS.writeFile(target, readFileSync(wheel));
}
pyodide.globals.set("_wheels", pyodide.toPy(wheels.map((w) => `/tmp/wheels/${basename(w)}`)));
pyodide.runPython(`
import sysconfig, zipfile
for _w in _wheels:
    with zipfile.ZipFile(_w) as _z:
        _z.extractall(sysconfig.get_paths()["purelib"])
del _w, _wheels
`);
pyodide.globals.set("_argv", pyodide.toPy([resolve(script), ...args]));
pyodide.FS.mkdirTree("/tmp/script");
pyodide.FS.writeFile("/tmp/script/main.py", readFileSync(script));
let status = 0;
try {
  await pyodide.runPythonAsync(`
import runpy, sys
sys.argv = list(_argv)
del _argv
try:
    runpy.run_path("/tmp/script/main.py", run_name="__main__")
except SystemExit as _exc:
    _status = _exc.code if isinstance(_exc.code, int) else (0 if _exc.code is None else 1)
else:
    _status = 0
`);
  status = pyodide.globals.get("_status");
} catch (err) {
  console.error(err.message ?? String(err));
  status = 1;
}
process.exit(status);
