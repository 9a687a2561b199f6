#!/usr/bin/env node
// Prints the closing line CI reads, from jest's --json results:
//   tests: N passed, N failed
// Suites that could not run (syntax errors, failing hooks) count as failures. Skipped
// tests are listed above it, each with the title that says what it needs.
'use strict';
const fs = require('node:fs');
const file = process.argv[2] || '.local/test-results.json';
let passed = 0;
let failed = 0;
try {
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  if (r.numTotalTests === 0 && !r.success) failed = Math.max(failed, 1);
  for (const suite of r.testResults || []) {
    for (const t of suite.assertionResults || []) {
      if (t.status === 'pending' || t.status === 'skipped' || t.status === 'todo') {
        console.log(`skipped: ${require('node:path').relative(process.cwd(), suite.name)}: ${t.fullName || t.title}`);
      }
    }
  }
} catch (err) {
  console.error(`no jest results in ${file} (${err.message}): the run did not complete`);
  failed = 1;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
