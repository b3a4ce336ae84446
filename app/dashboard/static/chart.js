// Grants, frees and expiries per 10 s over the last minutes, drawn as inline SVG
// from the events the page has seen (the feed and what it read of the journal).

const SVG = "http://www.w3.org/2000/svg";
export const BUCKET_MS = 10000;
export const BUCKETS = 30;
const TOP = 14;
const BOTTOM = 16;

// What each line counts; a revoke ends a lease as a free does.
export const SERIES = [
  { name: "grants", kinds: ["GRANTED"], className: "series-grants" },
  { name: "frees", kinds: ["FREED", "REVOKED"], className: "series-frees" },
  { name: "expiries", kinds: ["EXPIRED"], className: "series-expiries" },
];

export function buckets(events, now) {
  const end = Math.floor(now / BUCKET_MS) + 1;
  const start = end - BUCKETS;
  const counts = SERIES.map(() => new Array(BUCKETS).fill(0));
  for (const event of events) {
    const bucket = Math.floor(Date.parse(event.at) / BUCKET_MS) - start;
    if (bucket < 0 || bucket >= BUCKETS) continue;
    SERIES.forEach((series, index) => {
      if (series.kinds.includes(event.kind)) counts[index][bucket] += 1;
    });
  }
  return counts;
}

function node(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

// Draws into `svg` and returns the sentence that says the same for those who cannot see it.
export function draw(svg, events, now) {
  const counts = buckets(events, now);
  // Drawn at the size it is shown, so that its text is never stretched.
  const WIDTH = Math.max(120, Math.round(svg.clientWidth || 300));
  const HEIGHT = Math.max(60, Math.round(svg.clientHeight || 120));
  const highest = Math.max(1, ...counts.flat());
  const x = (index) => (index / (BUCKETS - 1)) * WIDTH;
  const y = (value) => TOP + (1 - value / highest) * (HEIGHT - TOP - BOTTOM);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.append(node("line", { x1: 0, x2: WIDTH, y1: y(0), y2: y(0), class: "axis" }));
  const top = node("text", { x: 4, y: TOP - 3, class: "tick" });
  top.textContent = String(highest);
  const left = node("text", { x: 4, y: HEIGHT - 3, class: "tick" });
  left.textContent = `−${(BUCKETS * BUCKET_MS) / 60000} min`;
  const right = node("text", { x: WIDTH - 4, y: HEIGHT - 3, class: "tick end" });
  right.textContent = "now";
  svg.append(top, left, right);
  counts.forEach((series, index) => {
    const points = series.map((value, bucket) => `${x(bucket).toFixed(1)},${y(value).toFixed(1)}`);
    svg.append(node("polyline", { points: points.join(" "), class: `line ${SERIES[index].className}` }));
  });
  const totals = SERIES.map((series, index) => `${counts[index].reduce((a, b) => a + b, 0)} ${series.name}`);
  return `Last ${(BUCKETS * BUCKET_MS) / 60000} minutes, per 10 seconds: ${totals.join(", ")}.`;
}
