// MQTT.js interop cases for emqgo, over WebSocket. Run by
// interop/node_test.go as
//
//   node interop.mjs ws://127.0.0.1:<port>/mqtt
//
// Prints "ok <case>" for each case that passes; on the first failure prints
// "FAIL <case>: <reason>" and exits 1. Cases:
//
//   qos0, qos1, qos2  a publish at each QoS to a subscription at that QoS
//   v5-qos0, v5-qos1, v5-qos2
//                     the same with MQTT 5 clients
//   retained          a retained message reaches a later subscriber with
//                     the retain flag; an empty retained publish clears it
//   will              a client closed without DISCONNECT (end(true)) has its
//                     MQTT 3.1.1 will published
//   from-tcp          a retained message the Go test published over TCP
//                     (node/from-tcp, "hello from tcp")
//   to-tcp            a QoS 1 publish to node/to-tcp that the Go test's TCP
//                     subscriber checks
import mqtt from 'mqtt'

const url = process.argv[2]
if (!url) {
  console.log('usage: node interop.mjs ws://host:port/mqtt')
  process.exit(2)
}
const TIMEOUT = 10000

const timer = setTimeout(() => {
  console.log(`FAIL ${current}: timeout after 30s overall`)
  process.exit(1)
}, 30000)

let current = 'setup'
const clients = []

// connect opens an MQTT 3.1.1 client with no automatic reconnection; its
// messages queue up for next().
// (connectAsync alone can wait for ever, for example after an HTTP error
// on the WebSocket upgrade, so the wait is bounded here.)
async function connect (clientId, extra = {}) {
  let timer
  const c = await Promise.race([
    mqtt.connectAsync(url, {
      clientId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT,
      keepalive: 30,
      ...extra
    }),
    new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${clientId}: no CONNACK within ${TIMEOUT}ms from ${url}`)), TIMEOUT)
    })
  ]).finally(() => clearTimeout(timer))
  c.queue = []
  c.waiters = []
  c.on('message', (topic, payload, packet) => {
    const m = { topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }
    const w = c.waiters.shift()
    if (w) w(m)
    else c.queue.push(m)
  })
  clients.push(c)
  return c
}

// next resolves with the client's next message.
function next (c) {
  if (c.queue.length > 0) return Promise.resolve(c.queue.shift())
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${c.options.clientId}: no message within ${TIMEOUT}ms`)), TIMEOUT)
    c.waiters.push((m) => { clearTimeout(t); resolve(m) })
  })
}

async function subscribe (c, subs) {
  const granted = await c.subscribeAsync(subs)
  for (const g of granted) {
    if (g.qos !== subs[g.topic].qos) {
      throw new Error(`${c.options.clientId}: subscribe ${g.topic} at QoS ${subs[g.topic].qos} granted ${g.qos}`)
    }
  }
}

function expect (m, topic, payload, qos, retain) {
  if (m.topic !== topic || m.payload !== payload || m.qos !== qos || m.retain !== retain) {
    throw new Error(`received ${JSON.stringify(m)}, want ${JSON.stringify({ topic, payload, qos, retain })}`)
  }
}

async function run (name, fn) {
  current = name
  await fn()
  console.log(`ok ${name}`)
}

async function main () {
  const sub = await connect('node-sub')
  const pub = await connect('node-pub')
  await subscribe(sub, { 'node/qos/0': { qos: 0 }, 'node/qos/1': { qos: 1 }, 'node/qos/2': { qos: 2 } })
  for (const q of [0, 1, 2]) {
    await run(`qos${q}`, async () => {
      await pub.publishAsync(`node/qos/${q}`, `payload at QoS ${q}`, { qos: q })
      expect(await next(sub), `node/qos/${q}`, `payload at QoS ${q}`, q, false)
    })
  }

  // The same over MQTT 5.
  const sub5 = await connect('node-sub5', { protocolVersion: 5 })
  const pub5 = await connect('node-pub5', { protocolVersion: 5 })
  await subscribe(sub5, { 'node/v5/0': { qos: 0 }, 'node/v5/1': { qos: 1 }, 'node/v5/2': { qos: 2 } })
  for (const q of [0, 1, 2]) {
    await run(`v5-qos${q}`, async () => {
      await pub5.publishAsync(`node/v5/${q}`, `v5 payload at QoS ${q}`, { qos: q })
      expect(await next(sub5), `node/v5/${q}`, `v5 payload at QoS ${q}`, q, false)
    })
  }

  await run('retained', async () => {
    await pub.publishAsync('node/ret/lamp', 'on', { qos: 1, retain: true })
    const a = await connect('node-ret-a')
    await subscribe(a, { 'node/ret/#': { qos: 1 } })
    expect(await next(a), 'node/ret/lamp', 'on', 1, true)
    // An empty retained message clears it, and reaches the established
    // subscription with retain 0...
    await pub.publishAsync('node/ret/lamp', '', { qos: 1, retain: true })
    expect(await next(a), 'node/ret/lamp', '', 1, false)
    // ...so a later subscriber's first message is a live one.
    const b = await connect('node-ret-b')
    await subscribe(b, { 'node/ret/#': { qos: 1 } })
    await pub.publishAsync('node/ret/lamp', 'live', { qos: 1 })
    expect(await next(b), 'node/ret/lamp', 'live', 1, false)
  })

  await run('will', async () => {
    const watcher = await connect('node-will-watcher')
    await subscribe(watcher, { 'node/will/#': { qos: 1 } })
    const willer = await connect('node-willer', {
      will: { topic: 'node/will/gone', payload: Buffer.from('bye'), qos: 1, retain: false }
    })
    await willer.endAsync(true) // force: the stream is destroyed, no DISCONNECT
    expect(await next(watcher), 'node/will/gone', 'bye', 1, false)
  })

  await run('from-tcp', async () => {
    const c = await connect('node-from-tcp')
    await subscribe(c, { 'node/from-tcp': { qos: 1 } })
    expect(await next(c), 'node/from-tcp', 'hello from tcp', 1, true)
  })

  await run('to-tcp', async () => {
    await pub.publishAsync('node/to-tcp', 'hello from ws', { qos: 1 })
  })

  current = 'teardown'
  await Promise.all(clients.filter((c) => c.connected).map((c) => c.endAsync()))
}

main().then(() => {
  clearTimeout(timer)
  process.exit(0)
}, (err) => {
  console.log(`FAIL ${current}: ${err && err.message ? err.message : err}`)
  process.exit(1)
})
