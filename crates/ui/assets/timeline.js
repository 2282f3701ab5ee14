// The Job timeline on a canvas: one row per pod slot (index), bars from creation → start → end coloured by
// outcome, the back-off gap before a retry, suspended periods and the active deadline. Only the rows in view
// are drawn, so 10,000 pods cost what 40 do; the data is the server's compact form (see crates/ui/src/timeline.rs):
// bar = [row, created, started, ended, outcome, pod, exitCode, reason, restarts], times in ms from `origin`.

const COLORS = {
  succeeded: '#2e9d5b',
  failed: '#d64545',
  running: '#3b7dd8',
  pending: '#9aa3b2',
  waiting: '#c9ced8',
  backoff: '#e3a008',
  suspended: 'rgba(120, 130, 150, 0.18)',
  deadline: '#b3261e',
  grid: '#e6e9ef',
  text: '#485163',
};
const AXIS = 22;
const LABEL = 120;

export class TimelineView {
  constructor(container, tooltip, onPick) {
    this.tooltip = tooltip;
    this.onPick = onPick;
    this.data = null;
    this.scroll = document.createElement('div');
    this.scroll.className = 'tl-scroll';
    this.canvas = document.createElement('canvas');
    this.canvas.id = 'timeline';
    this.spacer = document.createElement('div');
    this.scroll.append(this.canvas, this.spacer);
    container.replaceChildren(this.scroll);
    this.scroll.addEventListener('scroll', () => this.draw());
    this.canvas.addEventListener('mousemove', e => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    this.canvas.addEventListener('click', e => {
      const bar = this.barAt(e);
      if (bar) this.onPick(bar[5]);
    });
    this.resize = () => this.layout();
    window.addEventListener('resize', this.resize);
  }

  destroy() {
    window.removeEventListener('resize', this.resize);
    this.tooltip.hidden = true;
  }

  set(data) {
    this.data = data;
    // Bars by row, in time order, for drawing and hit-testing only what is in view.
    this.byRow = data.rows.map(() => []);
    for (const b of data.bars) (this.byRow[b[0]] ||= []).push(b);
    let end = data.now;
    if (data.deadline != null) end = Math.max(end, data.deadline);
    this.span = Math.max(end, 1000) * 1.02;
    this.rowHeight = data.rows.length <= 40 ? 20 : data.rows.length <= 400 ? 12 : 6;
    this.layout();
  }

  layout() {
    if (!this.data) return;
    const rowsHeight = this.data.rows.length * this.rowHeight;
    this.viewHeight = Math.min(AXIS + Math.max(rowsHeight, this.rowHeight), 520);
    this.width = this.scroll.clientWidth || 800;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.floor(this.width * dpr);
    this.canvas.height = Math.floor(this.viewHeight * dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.viewHeight}px`;
    this.scroll.style.height = `${this.viewHeight}px`;
    this.spacer.style.height = `${Math.max(0, AXIS + rowsHeight - this.viewHeight)}px`;
    this.ctx = this.canvas.getContext('2d');
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.draw();
  }

  x(t) { return LABEL + (Math.max(0, t) / this.span) * (this.width - LABEL - 8); }

  draw() {
    const d = this.data;
    const ctx = this.ctx;
    if (!d || !ctx) return;
    const rh = this.rowHeight;
    const top = this.scroll.scrollTop;
    ctx.clearRect(0, 0, this.width, this.viewHeight);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const first = Math.floor(top / rh);
    const last = Math.min(d.rows.length - 1, Math.ceil((top + this.viewHeight - AXIS) / rh));
    const y = row => AXIS + row * rh - top;

    // Time grid and axis.
    const step = niceStep(this.span / 8);
    ctx.fillStyle = COLORS.text;
    for (let t = 0; t <= this.span; t += step) {
      const gx = this.x(t);
      ctx.fillStyle = COLORS.grid;
      ctx.fillRect(gx, AXIS, 1, this.viewHeight - AXIS);
      ctx.fillStyle = COLORS.text;
      ctx.fillText(label(t), gx + 2, AXIS / 2);
    }
    // Suspended periods: bands across every row.
    for (const [from, to] of d.suspended) {
      const x0 = this.x(from);
      const x1 = this.x(to ?? d.now);
      ctx.fillStyle = COLORS.suspended;
      ctx.fillRect(x0, AXIS, Math.max(2, x1 - x0), this.viewHeight - AXIS);
      ctx.fillStyle = COLORS.text;
      ctx.fillText('suspended', x0 + 3, AXIS + 8);
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS, this.width, this.viewHeight - AXIS);
    ctx.clip();
    for (let row = first; row <= last; row++) {
      const ry = y(row);
      if (rh >= 12) {
        ctx.fillStyle = COLORS.text;
        ctx.fillText(truncate(ctx, d.rows[row], LABEL - 8), 4, ry + rh / 2);
      }
      const bars = this.byRow[row] || [];
      const h = Math.max(2, rh - (rh >= 12 ? 6 : 1));
      const by = ry + (rh - h) / 2;
      bars.forEach((b, i) => {
        const [, created, started, ended, outcome] = b;
        const end = ended ?? d.now;
        // Created, not yet started: a thin pale bar.
        const runFrom = started ?? end;
        ctx.fillStyle = COLORS.waiting;
        ctx.fillRect(this.x(created), by + h / 3, Math.max(1, this.x(runFrom) - this.x(created)), Math.max(1, h / 3));
        if (started != null) {
          ctx.fillStyle = COLORS[outcome] || COLORS.pending;
          ctx.fillRect(this.x(started), by, Math.max(2, this.x(end) - this.x(started)), h);
        } else if (outcome === 'failed' || outcome === 'succeeded') {
          ctx.fillStyle = COLORS[outcome];
          ctx.fillRect(this.x(end) - 2, by, 2, h);
        }
        // The back-off gap: from this pod's failure to the next pod on the row.
        const next = bars[i + 1];
        if (next && outcome === 'failed' && ended != null && next[1] > ended) {
          ctx.strokeStyle = COLORS.backoff;
          ctx.setLineDash([3, 3]);
          ctx.beginPath();
          ctx.moveTo(this.x(ended), by + h / 2);
          ctx.lineTo(this.x(next[1]), by + h / 2);
          ctx.stroke();
          ctx.setLineDash([]);
        }
      });
    }
    ctx.restore();
    // The active deadline: a dashed line from top to bottom.
    if (d.deadline != null) {
      const dx = this.x(d.deadline);
      ctx.strokeStyle = COLORS.deadline;
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(dx, AXIS);
      ctx.lineTo(dx, this.viewHeight);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS.deadline;
      ctx.fillText('deadline', dx + 3, AXIS + 20);
    }
    // Now.
    ctx.fillStyle = '#1d2330';
    ctx.fillRect(this.x(d.now), AXIS - 4, 1, this.viewHeight - AXIS + 4);
  }

  barAt(e) {
    if (!this.data) return null;
    const rect = this.canvas.getBoundingClientRect();
    const mx = e.clientX - rect.left;
    const my = e.clientY - rect.top;
    if (my < AXIS || mx < LABEL) return null;
    const row = Math.floor((my - AXIS + this.scroll.scrollTop) / this.rowHeight);
    const bars = this.byRow[row] || [];
    const slack = 3;
    return bars.find(b => mx >= this.x(b[1]) - slack && mx <= this.x(b[3] ?? this.data.now) + slack) || null;
  }

  hover(e) {
    const bar = this.barAt(e);
    this.canvas.style.cursor = bar ? 'pointer' : 'default';
    if (!bar) { this.tooltip.hidden = true; return; }
    const [, created, started, ended, outcome, pod, exitCode, reason, restarts] = bar;
    const lines = [
      pod,
      outcome + (exitCode != null ? `, exit code ${exitCode}` : '') + (reason ? ` (${reason})` : ''),
      `created at +${label(created)}` + (started != null ? `, started +${label(started)}` : ', not started'),
      ended != null ? `ended at +${label(ended)}, ran ${label(ended - (started ?? created))}` : 'still running',
    ];
    if (restarts) lines.push(`${restarts} restart${restarts > 1 ? 's' : ''} in place`);
    this.tooltip.replaceChildren(...lines.map((l, i) => { const p = document.createElement(i ? 'div' : 'strong'); p.textContent = l; return p; }));
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${e.pageX + 14}px`;
    this.tooltip.style.top = `${e.pageY + 10}px`;
  }
}

function niceStep(raw) {
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
  return steps.find(s => s >= raw) || 86400000 * Math.ceil(raw / 86400000);
}

function label(ms) {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s % 60) ? `${Math.round(s % 60)}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

function truncate(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(`…${t}`).width > width) t = t.slice(1);
  return `…${t}`;
}
