#!/usr/bin/env node
// An MCP server implementing what the official conformance suite (@modelcontextprotocol/conformance,
// `conformance server`) expects of a server under test: the test_* tools, test:// resources and
// test_* prompts described in the suite's scenario texts, plus completion, logging and
// subscriptions. Written for mcpz's tests against the TypeScript SDK the suite itself ships with.
//
//   NODE_PATH=$MCPZ_NODE_MODULES node tests/servers/conformance_server.cjs stdio [--page-size N]
//   NODE_PATH=$MCPZ_NODE_MODULES node tests/servers/conformance_server.cjs http [PORT]
//
// `http` serves streamable HTTP at http://127.0.0.1:PORT/mcp (PORT 0 or omitted: a free port), with
// sessions, resumable SSE (an in-memory event store) and localhost Host/Origin checks, and prints
// one JSON line {"mcp_url": ...} on stdout once listening. Logs go to stderr.

'use strict';

const { McpServer, ResourceTemplate } = require('@modelcontextprotocol/sdk/server/mcp.js');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { completable } = require('@modelcontextprotocol/sdk/server/completable.js');
const {
  ElicitResultSchema,
  CreateMessageResultSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
  McpError,
  ErrorCode,
} = require('@modelcontextprotocol/sdk/types.js');
const { z } = require('zod');
const http = require('http');
const { randomUUID } = require('crypto');

const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
// A 44-byte WAV header with two bytes of silence.
const WAV_TINY = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQIAAAAAAA==';
const WATCHED = 'test://watched-resource';

function log(msg) {
  process.stderr.write(`conformance-server: ${msg}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });

/** One McpServer per client session. `transports` maps session ids (HTTP) for test_reconnection. */
function build(transports, pageSize = 0) {
  const server = new McpServer(
    { name: 'mcpz-conformance-server', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const subscriptions = new Set();

  server.registerTool('test_simple_text', { description: 'Returns simple text' }, async () =>
    text('This is a simple text response for testing.'),
  );
  server.registerTool('test_image_content', { description: 'Returns a 1x1 PNG' }, async () => ({
    content: [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }],
  }));
  server.registerTool('test_audio_content', { description: 'Returns a tiny WAV' }, async () => ({
    content: [{ type: 'audio', data: WAV_TINY, mimeType: 'audio/wav' }],
  }));
  server.registerTool(
    'test_embedded_resource',
    { description: 'Returns an embedded text resource' },
    async () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  );
  server.registerTool(
    'test_multiple_content_types',
    { description: 'Returns text, image and resource content' },
    async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );
  server.registerTool(
    'test_tool_with_logging',
    { description: 'Sends three info log messages while running', inputSchema: {} },
    async (_args, extra) => {
      for (const [i, msg] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'conformance', data: msg },
        });
      }
      return text('Tool with logging executed successfully');
    },
  );
  server.registerTool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50, 100 of 100', inputSchema: {} },
    async (_args, extra) => {
      const token = extra._meta && extra._meta.progressToken;
      for (const [i, p] of [0, 50, 100].entries()) {
        if (i > 0) await sleep(50);
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: p, total: 100, message: `step ${p}` },
          });
        }
      }
      return text(`progress done (token ${JSON.stringify(token)})`);
    },
  );
  server.registerTool('test_error_handling', { description: 'Always fails' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool(
    'test_reconnection',
    { description: 'Closes its SSE stream mid-call, then answers (SEP-1699)', inputSchema: {} },
    async (_args, extra) => {
      const t = extra.sessionId && transports ? transports[extra.sessionId] : undefined;
      if (t && extra.requestId !== undefined) t.closeSSEStream(extra.requestId);
      await sleep(100);
      return text('Reconnection test completed successfully.');
    },
  );
  server.registerTool(
    'test_sampling',
    { description: 'Asks the client to sample', inputSchema: { prompt: z.string().describe('The prompt') } },
    async ({ prompt }, extra) => {
      const r = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const t = r.content && r.content.type === 'text' ? r.content.text : JSON.stringify(r.content);
      return text(`LLM response: ${t}`);
    },
  );
  server.registerTool(
    'test_elicitation',
    { description: 'Asks the user for input', inputSchema: { message: z.string().describe('The message') } },
    async ({ message }, extra) => {
      const r = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message,
            requestedSchema: {
              type: 'object',
              properties: {
                username: { type: 'string', description: "User's response" },
                email: { type: 'string', description: "User's email address" },
              },
              required: ['username', 'email'],
            },
          },
        },
        ElicitResultSchema,
      );
      return text(`User response: action=${r.action}, content=${JSON.stringify(r.content || {})}`);
    },
  );
  server.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation with defaults (SEP-1034)', inputSchema: {} },
    async (_args, extra) => {
      const r = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: 'Please review the defaults',
            requestedSchema: {
              type: 'object',
              properties: {
                name: { type: 'string', description: 'User name', default: 'John Doe' },
                age: { type: 'integer', description: 'User age', default: 30 },
                score: { type: 'number', description: 'User score', default: 95.5 },
                status: {
                  type: 'string',
                  description: 'User status',
                  enum: ['active', 'inactive', 'pending'],
                  default: 'active',
                },
                verified: { type: 'boolean', description: 'Verification status', default: true },
              },
              required: [],
            },
          },
        },
        ElicitResultSchema,
      );
      return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content || {})}`);
    },
  );
  server.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with every enum form (SEP-1330)', inputSchema: {} },
    async (_args, extra) => {
      const r = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: 'Please choose',
            requestedSchema: {
              type: 'object',
              properties: {
                untitledSingle: { type: 'string', description: 'Untitled single', enum: ['option1', 'option2', 'option3'] },
                titledSingle: {
                  type: 'string',
                  description: 'Titled single',
                  oneOf: [
                    { const: 'value1', title: 'First Option' },
                    { const: 'value2', title: 'Second Option' },
                    { const: 'value3', title: 'Third Option' },
                  ],
                },
                legacyEnum: {
                  type: 'string',
                  description: 'Legacy titled',
                  enum: ['opt1', 'opt2', 'opt3'],
                  enumNames: ['Option One', 'Option Two', 'Option Three'],
                },
                untitledMulti: {
                  type: 'array',
                  description: 'Untitled multi',
                  items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
                },
                titledMulti: {
                  type: 'array',
                  description: 'Titled multi',
                  items: {
                    anyOf: [
                      { const: 'value1', title: 'First Choice' },
                      { const: 'value2', title: 'Second Choice' },
                      { const: 'value3', title: 'Third Choice' },
                    ],
                  },
                },
              },
              required: [],
            },
          },
        },
        ElicitResultSchema,
      );
      return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content || {})}`);
    },
  );
  // A tool whose inputSchema is raw JSON Schema 2020-12 (SEP-1613): registered through McpServer,
  // then its listing is replaced with the exact schema.
  server.registerTool(
    'json_schema_2020_12_tool',
    { description: 'Tool with JSON Schema 2020-12 features', inputSchema: { name: z.string().optional() } },
    async () => text('ok'),
  );

  // Resources.
  server.registerResource(
    'static-text',
    'test://static-text',
    { description: 'A static text resource', mimeType: 'text/plain' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
    }),
  );
  server.registerResource(
    'static-binary',
    'test://static-binary',
    { description: 'A static binary resource (PNG)', mimeType: 'image/png' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_1X1 }] }),
  );
  server.registerResource(
    'watched-resource',
    WATCHED,
    { description: 'A resource that can be subscribed to', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }] }),
  );
  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'A templated resource', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    }),
  );

  // Prompts.
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  }));
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), (v) =>
          ['paris', 'park', 'party'].filter((x) => x.startsWith(v || '')),
        ),
        arg2: z.string().describe('Second test argument'),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [
        { role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } },
      ],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'A prompt embedding a resource',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));

  // Subscriptions: acknowledge, then tell the subscriber the resource was updated.
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    setTimeout(() => {
      if (subscriptions.has(req.params.uri)) {
        server.server.sendResourceUpdated({ uri: req.params.uri }).catch(() => {});
      }
    }, 10);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  // Not part of the suite: what this server was told in initialize, for mcpz's transparency tests.
  let initParams = null;
  const initHandler = server.server._requestHandlers.get('initialize');
  server.server._requestHandlers.set('initialize', async (req, extra) => {
    initParams = req.params;
    return initHandler(req, extra);
  });
  server.registerTool(
    'debug_initialize',
    { description: 'Returns the initialize parameters this server received (JSON)' },
    async () => text(JSON.stringify(initParams)),
  );

  // Replace the 2020-12 tool's generated schema with the exact one the suite checks.
  const listHandler = server.server._requestHandlers.get('tools/list');
  server.server._requestHandlers.set('tools/list', async (req, extra) => {
    const r = await listHandler(req, extra);
    for (const t of r.tools) {
      if (t.name === 'json_schema_2020_12_tool') {
        t.inputSchema = {
          $schema: 'https://json-schema.org/draft/2020-12/schema',
          type: 'object',
          $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
          properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
          additionalProperties: false,
        };
      }
    }
    return r;
  });
  if (pageSize > 0) paginate(server, ['tools/list', 'resources/list', 'prompts/list'], pageSize);
  return server;
}

/** Serve these list methods in pages of `size` (cursor: the decimal offset of the next page). */
function paginate(server, methods, size) {
  const key = { 'tools/list': 'tools', 'resources/list': 'resources', 'prompts/list': 'prompts' };
  for (const method of methods) {
    const inner = server.server._requestHandlers.get(method);
    server.server._requestHandlers.set(method, async (req, extra) => {
      const all = await inner({ ...req, params: { ...req.params, cursor: undefined } }, extra);
      const items = all[key[method]];
      const start = req.params && req.params.cursor !== undefined ? Number(req.params.cursor) : 0;
      if (!Number.isInteger(start) || start < 0 || start > items.length) {
        throw new McpError(ErrorCode.InvalidParams, `invalid cursor: ${req.params.cursor}`);
      }
      const out = { ...all, [key[method]]: items.slice(start, start + size) };
      if (start + size < items.length) out.nextCursor = String(start + size);
      else delete out.nextCursor;
      return out;
    });
  }
}

function eventStore() {
  const events = new Map();
  let n = 0;
  return {
    async storeEvent(streamId, message) {
      const id = `${streamId}::${String(++n).padStart(12, '0')}`;
      events.set(id, { streamId, message });
      return id;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const streamId = lastEventId.split('::')[0];
      for (const [id, e] of [...events.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        if (e.streamId === streamId && id > lastEventId) await send(id, e.message);
      }
      return streamId;
    },
  };
}

async function serveStdio(pageSize) {
  await build(null, pageSize).connect(new StdioServerTransport());
  log('serving on stdio');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const s = Buffer.concat(chunks).toString('utf8');
      if (!s) return resolve(undefined);
      try {
        resolve(JSON.parse(s));
      } catch (e) {
        resolve(Symbol.for('invalid-json'));
      }
    });
    req.on('error', reject);
  });
}

async function serveHttp(port) {
  const transports = {};
  const allowedHosts = [];
  const httpServer = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (url.pathname !== '/mcp') {
        res.writeHead(404).end();
        return;
      }
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const sid = req.headers['mcp-session-id'];
      let transport = sid ? transports[sid] : undefined;
      if (!transport) {
        if (sid || req.method !== 'POST' || !body || !isInitializeRequest(body)) {
          res.writeHead(sid ? 404 : 400, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: sid ? 'Session not found' : 'Bad Request: no valid session' }, id: null }));
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          eventStore: eventStore(),
          retryInterval: 200,
          enableDnsRebindingProtection: true,
          allowedHosts,
          allowedOrigins: allowedHosts.map((h) => `http://${h}`),
          onsessioninitialized: (id) => {
            transports[id] = transport;
          },
        });
        transport.onclose = () => {
          if (transport.sessionId) delete transports[transport.sessionId];
        };
        await build(transports).connect(transport);
      }
      await transport.handleRequest(req, res, body === Symbol.for('invalid-json') ? undefined : body);
    } catch (e) {
      log(`request failed: ${e && e.stack}`);
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  await new Promise((r) => httpServer.listen(port, '127.0.0.1', r));
  const actual = httpServer.address().port;
  allowedHosts.push(`127.0.0.1:${actual}`, `localhost:${actual}`, '127.0.0.1', 'localhost');
  process.stdout.write(JSON.stringify({ mcp_url: `http://127.0.0.1:${actual}/mcp` }) + '\n');
  log(`serving on http://127.0.0.1:${actual}/mcp`);
  const stop = () => {
    httpServer.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'stdio') {
  // `stdio --page-size N`: tools, resources and prompts listed N at a time.
  serveStdio(arg === '--page-size' ? Number(process.argv[4]) : 0);
} else if (mode === 'http') {
  serveHttp(Number(arg || 0));
} else {
  process.stderr.write('usage: conformance_server.cjs stdio [--page-size N] | http [PORT]\n');
  process.exit(2);
}
