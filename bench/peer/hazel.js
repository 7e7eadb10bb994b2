// SPDX-License-Identifier: MIT
// hazel-server as `make bench PEER=hazel` runs it: its own request handler
// under micro (as hazel's package starts it), on 127.0.0.1:PORT. Hazel
// reads its release list from https://api.github.com; here that one URL
// prefix is pointed at UPGATE_UPSTREAM, a stand-in on loopback, so no
// traffic leaves the machine. The list is fetched once before "ready",
// after which hazel answers update checks from memory.
const path = require('path')
const http = require('http')

const upstream = process.env.UPGATE_UPSTREAM
if (!upstream || !upstream.startsWith('http://127.0.0.1:')) {
  console.error('hazel.js: UPGATE_UPSTREAM must be a loopback URL')
  process.exit(2)
}
const hazelDir = path.dirname(require.resolve('hazel-server/package.json'))
const fetchPath = require.resolve('node-fetch', { paths: [path.join(hazelDir, 'lib')] })
const realFetch = require(fetchPath)
const loopbackFetch = (url, opts) =>
  realFetch(String(url).replace('https://api.github.com', upstream), opts)
require.cache[fetchPath].exports = loopbackFetch

const micro = require(require.resolve('micro', { paths: [hazelDir] }))
const handler = require(path.join(hazelDir, 'lib', 'server.js'))
const port = Number(process.env.PORT)
const server = micro(handler)

server.listen(port, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port, path: '/update/darwin/1.0.0' }, res => {
    res.resume()
    res.on('end', () => {
      if (res.statusCode !== 200) {
        console.error('hazel.js: warm-up answered ' + res.statusCode)
        process.exit(1)
      }
      console.log('ready on 127.0.0.1:' + port)
    })
  })
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
