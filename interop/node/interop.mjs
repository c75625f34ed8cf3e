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
//   v5-request-response, v5-topic-alias, v5-message-expiry, v5-shared,
//   v5-no-local, v5-to-v3
//                     MQTT 5 features between MQTT.js clients (see below)
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
  const c = mqtt.connect(url, {
    clientId,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT,
    keepalive: 30,
    ...extra
  })
  // The handler is in place before CONNACK: a resumed session's queued
  // messages may arrive in the same read as the CONNACK.
  c.queue = []
  c.waiters = []
  c.on('message', (topic, payload, packet) => {
    const m = { topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, properties: packet.properties || {} }
    const w = c.waiters.shift()
    if (w) w(m)
    else c.queue.push(m)
  })
  clients.push(c)
  let timer
  await Promise.race([
    new Promise((resolve, reject) => {
      c.once('connect', resolve)
      c.once('error', reject)
    }),
    new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${clientId}: no CONNACK within ${TIMEOUT}ms from ${url}`)), TIMEOUT)
    })
  ]).finally(() => clearTimeout(timer))
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

// none resolves if the client gets no message within ms, and rejects
// with the message otherwise.
function none (c, ms) {
  if (c.queue.length > 0) return Promise.reject(new Error(`${c.options.clientId}: unexpected ${JSON.stringify(c.queue[0])}`))
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { c.waiters.shift(); resolve() }, ms)
    c.waiters.push((m) => { clearTimeout(t); reject(new Error(`${c.options.clientId}: unexpected ${JSON.stringify(m)}`)) })
  })
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

  const v5 = { protocolVersion: 5 }

  // Request/response: the Response Topic and Correlation Data reach the
  // responder, and the reply comes back correlated.
  await run('v5-request-response', async () => {
    const requester = await connect('node-requester', v5)
    const responder = await connect('node-responder', v5)
    await subscribe(responder, { 'node/v5/req': { qos: 1 } })
    await subscribe(requester, { 'node/v5/resp/node-requester': { qos: 1 } })
    await requester.publishAsync('node/v5/req', 'what time is it', {
      qos: 1, properties: { responseTopic: 'node/v5/resp/node-requester', correlationData: Buffer.from('req-42') }
    })
    const req = await next(responder)
    const p = req.properties
    if (p.responseTopic !== 'node/v5/resp/node-requester' || !p.correlationData || p.correlationData.toString() !== 'req-42') {
      throw new Error(`request properties ${JSON.stringify(p)}`)
    }
    await responder.publishAsync(p.responseTopic, 'noon', { qos: 1, properties: { correlationData: p.correlationData } })
    const resp = await next(requester)
    expect(resp, 'node/v5/resp/node-requester', 'noon', 1, false)
    if (resp.properties.correlationData.toString() !== 'req-42') throw new Error('correlation data lost')
  })

  // Topic aliases both ways: the publisher sets alias 1 and then sends the
  // topic empty; the subscriber accepts aliases and MQTT.js resolves them.
  await run('v5-topic-alias', async () => {
    const s = await connect('node-alias-sub', { ...v5, properties: { topicAliasMaximum: 10 } })
    const p = await connect('node-alias-pub', v5)
    await subscribe(s, { 'node/v5/alias/long/topic/name': { qos: 1 } })
    await p.publishAsync('node/v5/alias/long/topic/name', 'first', { qos: 1, properties: { topicAlias: 1 } })
    await p.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 1 } })
    expect(await next(s), 'node/v5/alias/long/topic/name', 'first', 1, false)
    expect(await next(s), 'node/v5/alias/long/topic/name', 'second', 1, false)
  })

  // Message expiry: queued for an offline persistent session, a message
  // that expired is not delivered; another arrives with its interval lowered.
  await run('v5-message-expiry', async () => {
    const opts = { ...v5, clean: false, properties: { sessionExpiryInterval: 60 } }
    let s = await connect('node-expiry', opts)
    await subscribe(s, { 'node/v5/expiry': { qos: 1 } })
    await s.endAsync()
    await pub5.publishAsync('node/v5/expiry', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub5.publishAsync('node/v5/expiry', 'long', { qos: 1, properties: { messageExpiryInterval: 100 } })
    await new Promise((resolve) => setTimeout(resolve, 2100))
    s = await connect('node-expiry', opts)
    const m = await next(s)
    expect(m, 'node/v5/expiry', 'long', 1, false)
    if (!(m.properties.messageExpiryInterval <= 98)) throw new Error(`remaining expiry ${m.properties.messageExpiryInterval}, want <= 98`)
    await none(s, 200)
  })

  // Shared subscription: each message goes to exactly one member.
  await run('v5-shared', async () => {
    const a = await connect('node-share-a', v5)
    const b = await connect('node-share-b', v5)
    await subscribe(a, { '$share/g/node/v5/work': { qos: 1 } })
    await subscribe(b, { '$share/g/node/v5/work': { qos: 1 } })
    const n = 20
    for (let i = 0; i < n; i++) await pub5.publishAsync('node/v5/work', `job ${i}`, { qos: 1 })
    const deadline = Date.now() + TIMEOUT
    while (a.queue.length + b.queue.length < n) {
      if (Date.now() > deadline) throw new Error(`${a.queue.length} + ${b.queue.length} of ${n} messages delivered`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await new Promise((resolve) => setTimeout(resolve, 100)) // any duplicate would arrive by now
    const got = [...a.queue, ...b.queue].map((m) => m.payload)
    if (new Set(got).size !== n || got.length !== n) throw new Error(`deliveries ${JSON.stringify(got)}`)
    a.queue.length = 0
    b.queue.length = 0
  })

  // No Local: a client's own publishes don't come back; others' do.
  await run('v5-no-local', async () => {
    const c = await connect('node-nolocal', v5)
    await subscribe(c, { 'node/v5/chat': { qos: 1, nl: true } })
    await c.publishAsync('node/v5/chat', 'mine', { qos: 1 })
    await pub5.publishAsync('node/v5/chat', 'theirs', { qos: 1 })
    expect(await next(c), 'node/v5/chat', 'theirs', 1, false)
  })

  // A 3.1.1 subscriber gets a valid 3.1.1 PUBLISH of an MQTT 5 publish
  // that carries properties.
  await run('v5-to-v3', async () => {
    const old = await connect('node-v3-sub')
    await subscribe(old, { 'node/v5/tov3': { qos: 1 } })
    await pub5.publishAsync('node/v5/tov3', 'from v5', {
      qos: 1, properties: { userProperties: { a: '1' }, contentType: 'text/plain', responseTopic: 'x/y' }
    })
    expect(await next(old), 'node/v5/tov3', 'from v5', 1, false)
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
