// Hash routes: "#/tasks?state=TASK_RUNNING&q=web" is the path segments
// ["tasks"] and the parameters state and q. Pages keep their filters in the
// parameters, so that a filtered view is a link one can share.

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;  // a malformed escape: take it as it is
  }
}

export function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  return { segments: path.split('/').filter(Boolean).map(decode), params: new URLSearchParams(query) };
}

// The hash of a route: link(['tasks', fw, id]) or link(['tasks'], {state: 'TASK_RUNNING'}).
export function link(segments, params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const query = search.toString();
  return `#/${segments.map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
}

// Puts the page's parameters in the address without reloading the page (a
// changed hash would mount it again and lose the focus of a filter field).
export function replaceParams(segments, params) {
  window.history.replaceState(null, '', link(segments, params));
}
