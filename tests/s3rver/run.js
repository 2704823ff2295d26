// Starts @20minutes/s3rver for the tests: node run.js PORT DIRECTORY
// Its npm package lacks the CLI file it names (bin/s3rver.js), so this is the launcher.
// tests/s3rver_support.py runs it with NODE_PATH at build/s3rver/node_modules (`make s3rver`).
'use strict'

const S3rver = require('@20minutes/s3rver')

const [port, directory] = process.argv.slice(2)
if (!port || !directory) {
  console.error('usage: node run.js PORT DIRECTORY')
  process.exit(2)
}

// allowMismatchedSignatures stays false (its default): a wrong signature is refused.
new S3rver({ port: Number(port), address: '127.0.0.1', directory, silent: true })
  .run()
  .then(({ address, port }) => console.log(`s3rver listening on ${address}:${port}`))
  .catch((error) => {
    console.error(error)
    process.exit(1)
  })
