// Compiles every contracts/src/**/*.sol with solc-js (standard JSON) and writes
// <out_dir>/<ContractName>.json = { "abi": [...], "bytecode": "0x..." } for each deployable contract.
//
//   node contracts/compile.mjs <out_dir> [solc module dir]
//
// The solc module dir defaults to ${FERRY_NPM_PREFIX:-~/.cache/ferry/npm}/node_modules/solc
// (deploy/devnet/evm/install-solc.sh puts it there), then to a plain require('solc').
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const SOLC_VERSION = '0.8.28';
const here = path.dirname(fileURLToPath(import.meta.url));
const [outDir, solcDirArg] = process.argv.slice(2);
if (!outDir) {
    console.error('usage: node compile.mjs <out_dir> [solc module dir]');
    process.exit(2);
}

function loadSolc() {
    const require = createRequire(import.meta.url);
    const prefix = process.env.FERRY_NPM_PREFIX || path.join(os.homedir(), '.cache', 'ferry', 'npm');
    const candidates = solcDirArg ? [path.resolve(solcDirArg)] : [path.join(prefix, 'node_modules', 'solc'), 'solc'];
    for (const c of candidates) {
        try {
            return require(c);
        } catch (e) {
            if (solcDirArg) throw new Error(`cannot load solc from ${c}: ${e.message}`);
        }
    }
    throw new Error(`solc ${SOLC_VERSION} not found; run deploy/devnet/evm/install-solc.sh`);
}

function listSol(dir, base = dir) {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return listSol(p, base);
        return e.name.endsWith('.sol') ? [path.relative(base, p).split(path.sep).join('/')] : [];
    }).sort();
}

const solc = loadSolc();
const version = solc.version();
if (!version.startsWith(SOLC_VERSION + '+')) {
    console.error(`solc ${version} loaded, ${SOLC_VERSION} required`);
    process.exit(1);
}

const srcDir = path.join(here, 'src');
const sources = {};
for (const f of listSol(srcDir)) sources[`src/${f}`] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
if (Object.keys(sources).length === 0) {
    console.error(`no .sol files under ${srcDir}`);
    process.exit(1);
}

const input = {
    language: 'Solidity',
    sources,
    settings: {
        optimizer: { enabled: true, runs: 200 },
        evmVersion: 'cancun',
        viaIR: false,
        outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'], '': ['ast'] } },
    },
};
// Every source is given up front; any other import is an error rather than a disk read.
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: (p) => ({ error: `import not found: ${p}` }) }));

const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) console.error(e.formattedMessage || e.message);
if (errors.length > 0) {
    console.error(`solc: ${errors.length} error(s)`);
    process.exit(1);
}

// Deployable = a non-abstract `contract` (not an interface or library) with bytecode.
const deployable = new Set();
for (const [file, src] of Object.entries(output.sources || {})) {
    for (const node of src.ast?.nodes || []) {
        if (node.nodeType === 'ContractDefinition' && node.contractKind === 'contract' && !node.abstract) {
            deployable.add(`${file}:${node.name}`);
        }
    }
}

fs.mkdirSync(outDir, { recursive: true });
const written = new Map();
for (const [file, contracts] of Object.entries(output.contracts || {})) {
    for (const [name, c] of Object.entries(contracts)) {
        if (!deployable.has(`${file}:${name}`) || !c.evm?.bytecode?.object) continue;
        if (written.has(name)) {
            console.error(`contract name ${name} in both ${written.get(name)} and ${file}`);
            process.exit(1);
        }
        written.set(name, file);
        const artifact = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
        fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact));
    }
}
console.error(`solc ${version}: wrote ${[...written.keys()].join(', ')} to ${outDir}`);
