// Counts the suite's results on its required tests (kind "required" or unset), as
// cache-tests.fyi does, and lists every required failure with the suite's own message.
//   node summary.mjs SUITE_DIR RESULTS_JSON [MIN_REQUIRED_PASSES]
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [suiteDir, resultsPath, min] = process.argv.slice(2)
const tests = (await import(pathToFileURL(path.join(suiteDir, 'tests/index.mjs')))).default
const results = JSON.parse(fs.readFileSync(resultsPath, 'utf8'))
let pass = 0
const failures = []
for (const suite of tests) {
  for (const test of suite.tests) {
    if (test.kind !== undefined && test.kind !== 'required') continue
    const r = results[test.id]
    if (r === true) pass++
    else failures.push(`${test.id}: ${r === undefined ? 'not run' : JSON.stringify(r)}`)
  }
}
for (const f of failures) console.log(`FAIL ${f}`)
console.log(`required: ${pass} passed, ${failures.length} failed`)
if (min !== undefined && pass < Number(min)) {
  console.error(`required passes ${pass} < committed figure ${min}`)
  process.exit(1)
}
