// The API's event stream (GET /api/v1/events, server-sent events), read with fetch().
//
// A browser's EventSource cannot send an Authorization header, and a token in the URL would
// land in access logs and the browser's history; fetch() sends the header, and this module
// parses the text/event-stream format from the response body itself. When the stream ends
// (the server restarts, the network drops, or the server says `resync`) it reconnects after
// a capped, jittered backoff. Changes made while it was away are not replayed: its owner
// fetches the district's state again at each `hello` (the stream is open from then on).

import { authHeaders, current, expired } from './api.js';

/** Parse one event block ("event: x\ndata: {...}") into [event, data]. */
export function parseBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? [event, data.join('\n')] : null;
}

/** Follow the stream: `on.event(name, data)` for each event, `on.status('live'|'away')`. */
export function follow(on) {
  let stopped = false;
  let controller = null;
  let failures = 0;

  async function once() {
    controller = new AbortController();
    const response = await fetch('/api/v1/events', {
      headers: { ...authHeaders(), Accept: 'text/event-stream' }, signal: controller.signal,
    });
    if (response.status === 401) expired(); // the loop ends: a new login starts another
    if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let gap;
      while ((gap = /\r?\n\r?\n/.exec(buffer))) {
        const parsed = parseBlock(buffer.slice(0, gap.index));
        buffer = buffer.slice(gap.index + gap[0].length);
        if (!parsed) continue;
        const [event, text] = parsed;
        if (event === 'hello') { failures = 0; on.status('live'); }
        on.event(event, JSON.parse(text));
        if (event === 'resync') return;
      }
    }
  }

  async function run() {
    while (!stopped && current()) {
      try {
        await once();
      } catch (error) {
        if (stopped) return;
        failures += 1;
        console.warn('event stream:', error.message);
      }
      if (stopped) return;
      on.status('away');
      const wait = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random() / 2)));
    }
  }

  run();
  return { stop() { stopped = true; controller?.abort(); } };
}
