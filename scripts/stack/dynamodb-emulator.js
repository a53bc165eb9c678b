#!/usr/bin/env node
// The local stack's DynamoDB endpoint: dynalite, plus the table settings dynalite lacks and the
// recovery runbook captures and re-applies: time to live (Update/DescribeTimeToLive) and point-in-time
// recovery (Update/DescribeContinuousBackups). Tags are served here too: dynalite's ListTagsOfResource
// takes about ten seconds per call, which made every table description slow. Plain CommonJS so it starts as fast as dynalite itself.
//
//   node scripts/stack/dynamodb-emulator.js --host 127.0.0.1 --port 4567 --path DIR \
//     --createTableMs 0 --deleteTableMs 0 --updateTableMs 0
//
// Settings belong to one incarnation of a table (its name and CreationDateTime), so a deleted and
// recreated table starts with both DISABLED, as on AWS. With --path they persist in DIR/SETTINGS_FILE.
// TTL is only recorded: items are never expired, and the ENABLING/DISABLING phases are skipped.
//
// DeleteTable is asynchronous on AWS (DELETING for seconds to minutes); dynalite's --deleteTableMs
// applies to every table. A table tagged DELETING_MS_TAG (milliseconds) stays DELETING that long
// here (DescribeTable says so; DeleteTable again answers ResourceInUseException, as AWS does), then
// goes. Only in memory: a restart of the emulator meanwhile leaves the table ACTIVE.
'use strict'

const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const crypto = require('node:crypto')
const { crc32 } = require('node:zlib')
const dynalite = require('dynalite')
const validations = require('dynalite/validations')
const { validationError } = require('dynalite/db')

const SETTINGS_FILE = 'vcp-table-settings.json'
const API = 'DynamoDB_20120810'
const MAX_REQUEST_BYTES = 16 * 1024 * 1024 // dynalite's own limit
const DEFAULT_RECOVERY_PERIOD_DAYS = 35
// AWS reports the latest restorable time about five minutes behind now.
const LATEST_RESTORABLE_LAG_SECONDS = 300

const TABLE_NAME = { type: 'String', required: true, tableName: true, regex: '[a-zA-Z0-9_.-]+' }
const DELETING_MS_TAG = 'vcp-emulator/deleting-ms'
// Marks the emulator's own calls to dynalite (through its own port), so they go straight to dynalite.
const INTERNAL_HEADER = 'x-vcp-emulator-internal'

// Request shapes in dynalite's validation format, so messages read like AWS's (and dynalite's).
const OPERATIONS = {
  DescribeTimeToLive: { types: { TableName: TABLE_NAME }, run: describeTimeToLive },
  UpdateTimeToLive: {
    types: {
      TableName: TABLE_NAME,
      TimeToLiveSpecification: {
        type: 'FieldStruct<TimeToLiveSpecification>',
        required: true,
        children: {
          AttributeName: { type: 'String', notNull: true, lengthGreaterThanOrEqual: 1, lengthLessThanOrEqual: 255 },
          Enabled: { type: 'Boolean', notNull: true },
        },
      },
    },
    run: updateTimeToLive,
  },
  DescribeContinuousBackups: { types: { TableName: TABLE_NAME }, run: describeContinuousBackups, tableNotFound: true },
  UpdateContinuousBackups: {
    types: {
      TableName: TABLE_NAME,
      PointInTimeRecoverySpecification: {
        type: 'FieldStruct<PointInTimeRecoverySpecification>',
        required: true,
        children: {
          PointInTimeRecoveryEnabled: { type: 'Boolean', notNull: true },
          RecoveryPeriodInDays: { type: 'Integer', greaterThanOrEqual: 1, lessThanOrEqual: 35 },
        },
      },
    },
    run: updateContinuousBackups,
    // The continuous-backups API names a missing table differently from the rest of DynamoDB.
    tableNotFound: true,
  },
  ListTagsOfResource: { byArn: true, check: checkArn, run: listTags },
  TagResource: { byArn: true, check: (data) => checkTags(data, true), run: tagResource },
  UntagResource: { byArn: true, check: (data) => checkTags(data, false), run: untagResource },
}

function checkArn(data) {
  if (typeof data.ResourceArn !== 'string' || !/^arn:aws[a-z-]*:dynamodb:[^:]*:[^:]*:table\/[a-zA-Z0-9_.-]+$/.test(data.ResourceArn)) {
    throw validationError(`Invalid TableArn: ${String(data.ResourceArn)}`)
  }
  return data
}

function checkTags(data, withValues) {
  checkArn(data)
  const list = withValues ? data.Tags : data.TagKeys
  if (!Array.isArray(list) || list.length === 0) throw validationError(`1 validation error detected: ${withValues ? 'Tags' : 'TagKeys'} must not be empty`)
  for (const entry of list) {
    const ok = withValues ? entry && typeof entry.Key === 'string' && entry.Key.length > 0 && typeof entry.Value === 'string' : typeof entry === 'string'
    if (!ok) throw validationError(`1 validation error detected: invalid ${withValues ? 'tag' : 'tag key'} ${JSON.stringify(entry)}`)
  }
  return data
}

function listTags(settings) {
  return { result: { Tags: Object.entries(settings.tags || {}).map(([Key, Value]) => ({ Key, Value })) }, changed: false }
}

function tagResource(settings, data) {
  settings.tags = { ...(settings.tags || {}) }
  for (const { Key, Value } of data.Tags) settings.tags[Key] = Value
  return { result: {}, changed: true }
}

function untagResource(settings, data) {
  settings.tags = { ...(settings.tags || {}) }
  for (const key of data.TagKeys) delete settings.tags[key]
  return { result: {}, changed: true }
}

function parseArgs(argv) {
  const options = {}
  for (let i = 0; i < argv.length; i++) {
    const match = /^--([A-Za-z]+)(?:=(.*))?$/.exec(argv[i])
    if (!match) throw new Error(`unexpected argument ${argv[i]}`)
    const [, name, inline] = match
    // --flag alone (--verbose, --debug) is true, as in dynalite's own CLI.
    const next = argv[i + 1]
    const value = inline !== undefined ? inline : next !== undefined && !next.startsWith('--') ? argv[++i] : true
    options[name] = typeof value === 'string' && /Ms$|Kb$|^port$/.test(name) ? Number(value) : value
  }
  return options
}

/** Settings per table name, each for one incarnation (CreationDateTime); in memory without --path. */
function createSettingsStore(dir) {
  const file = dir ? path.join(dir, SETTINGS_FILE) : undefined
  let tables = {}
  if (file && fs.existsSync(file)) tables = JSON.parse(fs.readFileSync(file, 'utf8')).tables || {}
  return {
    get(name, creationDateTime) {
      const entry = tables[name]
      // A copy: a refused or failed update leaves the stored settings as they were.
      if (entry && entry.creationDateTime === creationDateTime) return structuredClone(entry)
      return { creationDateTime, timeToLive: { enabled: false }, pointInTimeRecovery: { enabled: false }, tags: {} }
    },
    // Replaces any entry of an older incarnation of the same name: that table is gone.
    put(name, entry) {
      tables[name] = entry
      if (!file) return
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify({ tables }, null, 2))
      fs.renameSync(tmp, file)
    },
  }
}

// Each operation returns { result, changed }; it throws validationError(...) to refuse.
function describeTimeToLive(settings) {
  const ttl = settings.timeToLive
  return {
    result: {
      TimeToLiveDescription: ttl.enabled
        ? { TimeToLiveStatus: 'ENABLED', AttributeName: ttl.attributeName }
        : { TimeToLiveStatus: 'DISABLED' },
    },
    changed: false,
  }
}

function updateTimeToLive(settings, data) {
  const { AttributeName, Enabled } = data.TimeToLiveSpecification
  // AWS refuses a no-op update (the call is not idempotent).
  if (Enabled && settings.timeToLive.enabled) throw validationError('TimeToLive is already enabled')
  if (!Enabled && !settings.timeToLive.enabled) throw validationError('TimeToLive is already disabled')
  settings.timeToLive = Enabled ? { enabled: true, attributeName: AttributeName } : { enabled: false }
  return { result: { TimeToLiveSpecification: { AttributeName, Enabled } }, changed: true }
}

function continuousBackupsDescription(settings) {
  const pitr = settings.pointInTimeRecovery
  if (!pitr.enabled) {
    return {
      ContinuousBackupsDescription: {
        ContinuousBackupsStatus: 'ENABLED',
        PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'DISABLED' },
      },
    }
  }
  const now = Date.now() / 1000
  const earliest = Math.max(pitr.enabledAt, now - pitr.recoveryPeriodInDays * 86400)
  return {
    ContinuousBackupsDescription: {
      ContinuousBackupsStatus: 'ENABLED',
      PointInTimeRecoveryDescription: {
        PointInTimeRecoveryStatus: 'ENABLED',
        RecoveryPeriodInDays: pitr.recoveryPeriodInDays,
        EarliestRestorableDateTime: earliest,
        LatestRestorableDateTime: Math.max(earliest, now - LATEST_RESTORABLE_LAG_SECONDS),
      },
    },
  }
}

function describeContinuousBackups(settings) {
  return { result: continuousBackupsDescription(settings), changed: false }
}

function updateContinuousBackups(settings, data) {
  const { PointInTimeRecoveryEnabled: enabled, RecoveryPeriodInDays: days } = data.PointInTimeRecoverySpecification
  if (!enabled && days !== undefined) {
    throw validationError('RecoveryPeriodInDays can only be set when PointInTimeRecoveryEnabled is true')
  }
  const before = settings.pointInTimeRecovery
  // Unlike TTL this call is idempotent; re-enabling keeps the recovery window already accumulated.
  settings.pointInTimeRecovery = enabled
    ? {
      enabled: true,
      recoveryPeriodInDays: days !== undefined ? days : before.enabled ? before.recoveryPeriodInDays : DEFAULT_RECOVERY_PERIOD_DAYS,
      enabledAt: before.enabled ? before.enabledAt : Date.now() / 1000,
    }
    : { enabled: false }
  return { result: continuousBackupsDescription(settings), changed: true }
}

/** Sends a JSON response the way dynalite does (same headers, so the SDK's CRC32 check passes). */
function send(req, res, statusCode, data) {
  const body = JSON.stringify(data)
  const contentType = String(req.headers['content-type'] || '').split(';')[0].trim()
  res.writeHead(statusCode, {
    'x-amzn-RequestId': crypto.randomBytes(39).toString('base64').toUpperCase().replace(/\+|\//g, '0'),
    'x-amz-crc32': crc32(body),
    'Content-Type': contentType === 'application/x-amz-json-1.0' ? contentType : 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(body)
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let length = 0
    req.on('data', (chunk) => {
      length += chunk.length
      if (length > MAX_REQUEST_BYTES) {
        req.destroy()
        reject(Object.assign(new Error('request too large'), { statusCode: 413 }))
      } else {
        chunks.push(chunk)
      }
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/**
 * Calls dynalite's `operation` with the incoming request's headers: dynalite checks the content type,
 * serialization and authentication as for any call (DescribeTable also returns the table's
 * CreationDateTime).
 */
function callDynalite(address, operation, headers, body) {
  const forwarded = { ...headers, 'x-amz-target': `${API}.${operation}`, 'content-length': String(body.length), [INTERNAL_HEADER]: '1' }
  delete forwarded['transfer-encoding']
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: address.host, port: address.port, method: 'POST', path: '/', headers: forwarded },
      (response) => {
        const chunks = []
        response.on('data', (chunk) => chunks.push(chunk))
        response.on('error', reject)
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString()
          let json
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ statusCode: response.statusCode, headers: response.headers, text, json })
        })
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

function describeTable(address, headers, body) {
  return callDynalite(address, 'DescribeTable', headers, body)
}

function relay(res, answer) {
  res.writeHead(answer.statusCode, answer.headers)
  res.end(answer.text)
}

/**
 * DeleteTable and DescribeTable while a tagged table is DELETING (see DELETING_MS_TAG). `deleting`
 * maps each such table name to when it goes.
 */
async function handleDeletion(operation, req, res, address, store, deleting) {
  const raw = await readBody(req)
  let tableName
  try {
    tableName = JSON.parse(raw.toString()).TableName
  } catch {
    tableName = undefined
  }
  if (operation === 'DescribeTable') {
    const answer = await callDynalite(address, operation, req.headers, raw)
    if (answer.statusCode !== 200 || !deleting.has(tableName)) return relay(res, answer)
    return send(req, res, 200, { Table: { ...answer.json.Table, TableStatus: 'DELETING' } })
  }
  if (deleting.has(tableName)) {
    return send(req, res, 400, {
      __type: 'com.amazonaws.dynamodb.v20120810#ResourceInUseException',
      message: `Attempt to change a resource which is still in use: Table is being deleted: ${tableName}`,
    })
  }
  const described = typeof tableName === 'string' ? await describeTable(address, req.headers, Buffer.from(JSON.stringify({ TableName: tableName }))) : undefined
  const delayMs = described && described.statusCode === 200
    ? Number(store.get(tableName, described.json.Table.CreationDateTime).tags[DELETING_MS_TAG])
    : NaN
  if (!(delayMs > 0)) return relay(res, await callDynalite(address, operation, req.headers, raw))
  deleting.set(tableName, Date.now() + delayMs)
  console.log('[emulator] DeleteTable %s: DELETING for %d ms', tableName, delayMs)
  setTimeout(() => {
    callDynalite(address, operation, req.headers, raw)
      .then((answer) => console.log('[emulator] DeleteTable %s: deleted (%d)', tableName, answer.statusCode))
      .catch((err) => console.error('[emulator] DeleteTable %s failed', tableName, err))
      .finally(() => deleting.delete(tableName))
  }, delayMs)
  return send(req, res, 200, { TableDescription: { ...described.json.Table, TableStatus: 'DELETING' } })
}

function errorType(json) {
  return json && typeof json.__type === 'string' ? json.__type.split('#')[1] : undefined
}

async function handleSetting(operation, op, req, res, address, store) {
  const raw = await readBody(req)
  let data
  try {
    data = JSON.parse(raw.toString())
  } catch {
    data = undefined
  }
  const isObject = data !== null && typeof data === 'object' && !Array.isArray(data)
  if (op.byArn && isObject && typeof data.ResourceArn === 'string') data.TableName = data.ResourceArn.split('/').pop()
  const tableName = isObject && typeof data.TableName === 'string' ? data.TableName : undefined
  // Unparseable input goes to dynalite as is, so it answers exactly as for its own operations.
  const describe = await describeTable(address, req.headers, isObject ? Buffer.from(JSON.stringify({ TableName: tableName })) : raw)
  const describeError = describe.statusCode === 200 ? undefined : errorType(describe.json)
  if (describe.statusCode !== 200 && !['ValidationException', 'ResourceNotFoundException'].includes(describeError)) {
    // Content type, serialization or authentication: dynalite's answer is the answer.
    res.writeHead(describe.statusCode, describe.headers)
    res.end(describe.text)
    return
  }
  try {
    if (op.check) {
      data = op.check(data)
    } else {
      data = validations.checkTypes(data, op.types)
      validations.checkValidations(data, op.types)
    }
  } catch (err) {
    if (err.statusCode) return send(req, res, err.statusCode, err.body)
    throw err
  }
  if (describeError === 'ResourceNotFoundException' && op.tableNotFound) {
    return send(req, res, 400, {
      __type: 'com.amazonaws.dynamodb.v20120810#TableNotFoundException',
      message: `Table not found: ${data.TableName}`,
    })
  }
  if (describeError === 'ResourceNotFoundException' && op.byArn) {
    return send(req, res, 400, {
      __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
      message: `Requested resource not found: ResourcArn: ${data.ResourceArn} not found`,
    })
  }
  if (describeError) return send(req, res, describe.statusCode, describe.json)

  const settings = store.get(data.TableName, describe.json.Table.CreationDateTime)
  let outcome
  try {
    outcome = op.run(settings, data)
  } catch (err) {
    if (err.statusCode) return send(req, res, err.statusCode, err.body)
    throw err
  }
  if (outcome.changed) {
    store.put(data.TableName, settings)
    console.log('[emulator] %s %s: %j', operation, data.TableName, settings)
  }
  return send(req, res, 200, outcome.result)
}

function main() {
  const options = parseArgs(process.argv.slice(2))
  const port = options.port === undefined ? 4567 : options.port
  if (options.path) fs.mkdirSync(options.path, { recursive: true })
  const store = createSettingsStore(options.path)
  const server = dynalite(options)
  const [dynaliteHandler] = server.listeners('request')
  server.removeAllListeners('request')
  let address

  const deleting = new Map()

  server.on('request', (req, res) => {
    if (req.headers[INTERNAL_HEADER]) return dynaliteHandler(req, res)
    const [api, operation] = String(req.headers['x-amz-target'] || '').split('.')
    const ours = api === API && req.method === 'POST'
    if (ours && (operation === 'DeleteTable' || (operation === 'DescribeTable' && deleting.size > 0))) {
      handleDeletion(operation, req, res, address, store, deleting).catch((err) => {
        console.error('[emulator] %s failed', operation, err)
        if (res.headersSent) return res.destroy()
        send(req, res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(err.message) })
      })
      return
    }
    const op = ours ? OPERATIONS[operation] : undefined
    if (!op) return dynaliteHandler(req, res)
    handleSetting(operation, op, req, res, address, store).catch((err) => {
      console.error('[emulator] %s failed', operation, err)
      if (res.headersSent) return res.destroy()
      if (err.statusCode === 413) {
        res.writeHead(413).end()
        return
      }
      send(req, res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(err.message) })
    })
  })

  server.listen(port, options.host, () => {
    const listening = server.address()
    // Calls to itself go to loopback when listening on every interface.
    const host = !options.host || options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host
    address = { host, port: listening.port }
    console.log('Dynalite listening at: http://%s:%s (with TTL and PITR settings%s)', options.host || 'localhost',
      listening.port, options.path ? ` in ${path.join(options.path, SETTINGS_FILE)}` : ', in memory')
  })

  // dynalite's close flushes LevelDB; SIGTERM (down.sh, docker stop) would otherwise kill it mid-write.
  const stop = (signal) => {
    console.log('[emulator] %s: stopping', signal)
    setTimeout(() => process.exit(0), 5000).unref()
    server.close(() => process.exit(0))
    server.closeIdleConnections()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main()
