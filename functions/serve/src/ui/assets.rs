//! The UI's stylesheet and script, compiled into the binary: the pages load nothing
//! from anywhere else.

/// `/ui/assets/style.css`.
pub const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #d9dee5; --accent: #2457c5; --bg: #f6f7f9; --ok: #1f7a3a; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; gap: 1rem; flex: 1; }
header nav a { color: var(--muted); text-decoration: none; }
header nav a.active { color: var(--accent); font-weight: 600; }
main { max-width: 1100px; margin: 1.5rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .6rem; }
a { color: var(--accent); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .45rem .7rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #fafbfc; font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem; margin-bottom: 1rem; }
.row { display: flex; gap: .6rem; align-items: center; flex-wrap: wrap; }
.muted { color: var(--muted); }
label { display: block; margin: .5rem 0 .2rem; font-weight: 600; }
input[type=text], input[type=password], input[type=url], select { padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 4px; min-width: 16rem; font: inherit; }
button { padding: .4rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; font: inherit; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
.error { color: var(--bad); margin-top: .4rem; }
.ok { color: var(--ok); }
.crumbs a { text-decoration: none; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: 12px; background: #eef1f5; color: var(--muted); }
progress { width: 100%; height: .8rem; }
.row > .error, .row > ul.conflicts { flex-basis: 100%; }
h1.mono { font-size: 1.25rem; word-break: break-all; }
.history svg { max-width: 100%; height: auto; }
.added { color: var(--ok); } .removed { color: var(--bad); } .changed { color: #8a5a00; }
#jobs td.error, #jobs td.cancelled-by { overflow-wrap: anywhere; }
"#;

/// `/ui/assets/app.js`: forms that call the JSON API with the session's CSRF token,
/// and show its errors next to the form.
pub const SCRIPT: &str = r#"
function csrf() { const m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ''; }
async function api(method, path, body, raw) {
  const headers = { 'x-csrf-token': csrf() };
  let data;
  if (raw !== undefined) { data = raw; headers['content-type'] = 'application/octet-stream'; }
  else if (body !== undefined) { data = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  const response = await fetch('/api/v1' + path, { method, headers, body: data, credentials: 'same-origin' });
  let payload = null;
  try { payload = await response.json(); } catch (e) { payload = null; }
  if (!response.ok) {
    const err = new Error(payload && payload.message ? payload.message : response.statusText);
    err.conflicts = payload && payload.conflicts ? payload.conflicts : [];
    throw err;
  }
  return payload;
}
function showError(form, err) {
  let box = form.querySelector('.error');
  if (!box) { box = document.createElement('div'); box.className = 'error'; form.appendChild(box); }
  box.textContent = err.message;
  // A merge refused for conflicts lists them, one path per line.
  let list = form.querySelector('ul.conflicts');
  if (list) { list.remove(); }
  if (err.conflicts && err.conflicts.length) {
    list = document.createElement('ul'); list.className = 'conflicts mono';
    for (const path of err.conflicts) { const li = document.createElement('li'); li.textContent = path; list.append(li); }
    box.after(list);
  }
}
document.addEventListener('submit', async (event) => {
  const form = event.target;
  const action = form.dataset.api;
  if (!action) { return; }
  event.preventDefault();
  form.querySelectorAll('.error, ul.conflicts').forEach((e) => e.remove());
  const fields = Object.fromEntries(new FormData(form).entries());
  try {
    if (action === 'login') {
      await api('POST', '/auth/login', fields);
      window.location = form.dataset.next || '/ui/';
    } else if (action === 'create-repository') {
      await api('POST', '/repositories', fields);
      window.location = '/ui/repositories/' + encodeURIComponent(fields.name);
    } else if (action === 'upload') {
      const file = form.querySelector('input[type=file]').files[0];
      const path = (form.dataset.prefix || '') + (fields.name || (file ? file.name : ''));
      await api('PUT', form.dataset.base + '/objects?path=' + encodeURIComponent(path), undefined, file);
      window.location.reload();
    } else if (action === 'commit') {
      await api('POST', form.dataset.base + '/commits', { message: fields.message, metadata: {} });
      window.location.reload();
    } else if (action === 'reset') {
      await api('POST', form.dataset.base + '/reset', {});
      window.location.reload();
    } else if (action === 'merge') {
      const path = '/repositories/' + encodeURIComponent(form.dataset.repository) + '/branches/' +
        encodeURIComponent(fields.destination) + '/merge';
      const merged = await api('POST', path, { source: form.dataset.source, strategy: fields.strategy });
      let box = form.querySelector('.ok');
      if (!box) { box = document.createElement('div'); box.className = 'ok'; form.appendChild(box); }
      box.textContent = 'Merged (' + merged.outcome + '): ' + fields.destination + ' is at ' + merged.commit.slice(0, 12);
    } else if (action === 'create-branch') {
      const repository = form.dataset.repository;
      await api('POST', '/repositories/' + encodeURIComponent(repository) + '/branches',
        { name: fields.name, source: form.dataset.source });
      window.location = '/ui/repositories/' + encodeURIComponent(repository) + '?ref=' + encodeURIComponent(fields.name);
    } else if (action === 'delete-branch') {
      const repository = form.dataset.repository;
      if (!window.confirm('Delete branch ' + form.dataset.branch + '? Its uncommitted changes are lost.')) { return; }
      await api('DELETE', '/repositories/' + encodeURIComponent(repository) + '/branches/' + encodeURIComponent(form.dataset.branch));
      window.location = '/ui/repositories/' + encodeURIComponent(repository);
    } else if (action === 'add-source') {
      const body = { inventory: fields.inventory, merge_into: fields.merge_into || null,
        prefix: fields.prefix || null, path: fields.path || null, branch: fields.branch || null };
      await api('POST', '/repositories/' + encodeURIComponent(form.dataset.repository) + '/sources', body);
      window.location.reload();
    } else if (action === 'logout') {
      await api('POST', '/auth/logout');
      window.location = '/ui/login';
    }
  } catch (err) { showError(form, err); }
});

// The import dialog: Test (a dry run), Import, progress (with Cancel), summary, merge.
function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) { td.className = cls; } return td; }
function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }
// A job that has not finished can still be cancelled, unless its commit is moving the
// branch already.
function finished(job) { return job.state !== 'staging' && job.state !== 'committing'; }
function cancellable(job) { return !finished(job) && !job.moving_branch; }
function jobPath(repository, id) {
  return '/repositories/' + encodeURIComponent(repository) + '/imports/' + encodeURIComponent(id);
}
function cancelledBy(job) { return 'cancelled by ' + (job.cancelled_by || 'someone'); }
// Progress as a person reads it: files and rows done out of the delivery's totals
// (rows out of a total when the data files' footers told it), and the commit's
// partitions while they run.
function progressText(job) {
  let text = job.files_done + ' / ' + job.files_total + ' files, ' + job.rows.toLocaleString('en-US');
  if (job.rows_total) { text += ' / ' + job.rows_total.toLocaleString('en-US'); }
  text += ' rows';
  const partitions = (job.partition_cuts || []).length + 1;
  if (partitions > 1 && job.state === 'committing') { text += ', ' + job.partitions_done + ' / ' + partitions + ' partitions committed'; }
  return text;
}
function showProgress(bar, job) {
  if (job.rows_total) { bar.max = job.rows_total; bar.value = Math.min(job.rows, job.rows_total); }
  else { bar.max = Math.max(job.files_total, 1); bar.value = job.files_done; }
}
function counts(summary) {
  const rows = [['added', summary.added], ['changed', summary.changed], ['deleted', summary.deleted],
                ['unchanged', summary.unchanged], ['total', summary.total]];
  const skipped = summary.skipped || {};
  for (const [reason, n] of Object.entries(skipped)) { rows.push(['skipped: ' + reason.replace(/_/g, ' '), n]); }
  const table = document.createElement('table');
  table.className = 'counts';
  const body = document.createElement('tbody');
  for (const [name, n] of rows) { const tr = document.createElement('tr'); tr.dataset.count = name; tr.append(cell(name), cell(String(n), 'num')); body.append(tr); }
  table.append(body);
  return table;
}
async function loadLists(repository) {
  const base = '/repositories/' + encodeURIComponent(repository);
  const sources = document.querySelector('#sources tbody');
  if (sources) {
    sources.replaceChildren();
    for (const s of await api('GET', base + '/sources')) {
      const tr = document.createElement('tr');
      tr.append(cell(s.inventory, 'mono'), cell(s.merge_into || '—'), cell(s.prefix || '—', 'mono'),
        cell(s.path || '—', 'mono'), cell(s.branch));
      sources.append(tr);
    }
  }
  const jobs = document.querySelector('#jobs tbody');
  if (jobs) {
    jobs.replaceChildren();
    for (const j of await api('GET', base + '/imports')) { jobs.append(jobRow(repository, j)); }
  }
}
// A row of the jobs table; a job that can be cancelled has a Cancel button, which
// puts the job as the cancel left it in the row, or the job as it is and, in its
// Error cell, why the cancel was refused.
function jobRow(repository, j) {
  const tr = document.createElement('tr');
  tr.dataset.job = j.id;
  const s = j.summary || {};
  const cancelled = j.state === 'cancelled';
  tr.append(cell(j.id.slice(0, 12), 'mono'), cell(j.state + (j.dry_run ? ' (dry run)' : '')),
    cell(progressText(j)), cell(j.created_at, 'muted'),
    cell(s.added !== undefined ? String(s.added) : '', 'num'), cell(s.changed !== undefined ? String(s.changed) : '', 'num'),
    cell(s.deleted !== undefined ? String(s.deleted) : '', 'num'),
    cancelled ? cell(cancelledBy(j), 'muted cancelled-by') : cell(j.error || '', 'error'));
  const actions = cell('');
  if (cancellable(j)) {
    const button = document.createElement('button');
    button.type = 'button'; button.className = 'secondary cancel-job'; button.textContent = 'Cancel';
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        tr.replaceWith(jobRow(repository, await api('POST', jobPath(repository, j.id) + '/cancel')));
      } catch (err) {
        let row = tr;
        try { row = jobRow(repository, await api('GET', jobPath(repository, j.id))); tr.replaceWith(row); } catch (e) { button.disabled = false; }
        const box = document.createElement('div'); box.className = 'error'; box.textContent = err.message;
        row.children[7].append(box);
      }
    });
    actions.append(button);
  }
  tr.append(actions);
  return tr;
}
function dialogError(form, err) {
  let box = form.querySelector('.error');
  if (!box) { box = document.createElement('div'); box.className = 'error'; form.querySelector('#manifest').after(box); }
  box.textContent = err.message;
}
function clearError(form) { const box = form.querySelector('.error'); if (box) { box.remove(); } }
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('import-dialog');
  if (!form) { return; }
  const repository = form.dataset.repository;
  const base = '/repositories/' + encodeURIComponent(repository);
  loadLists(repository).catch(() => {});
  document.getElementById('test').addEventListener('click', async () => {
    clearError(form);
    const result = document.getElementById('test-result');
    result.replaceChildren();
    try {
      let job = await api('POST', base + '/imports/test', { manifest: form.manifest.value });
      // A delivery too large for the server to read itself is tried by the workers:
      // followed until it ends.
      const waiting = document.createElement('p');
      waiting.className = 'muted';
      waiting.id = 'test-progress';
      while (!finished(job)) {
        waiting.textContent = 'Testing on the workers, ' + job.state + ': ' + progressText(job);
        result.replaceChildren(waiting);
        await sleep(500);
        job = await api('GET', jobPath(repository, job.id));
      }
      result.replaceChildren();
      if (job.error) { throw new Error(job.error); }
      const title = document.createElement('p');
      title.textContent = 'Test: what the import would do';
      result.append(title, counts(job.summary));
    } catch (err) { dialogError(form, err); }
  });
  document.getElementById('import').addEventListener('click', async () => {
    clearError(form);
    const summaryBox = document.getElementById('import-summary');
    summaryBox.replaceChildren();
    const cancel = document.getElementById('cancel-import');
    try {
      let job = await api('POST', base + '/imports', { manifest: form.manifest.value });
      if (job.already_imported) { throw new Error('this delivery was imported already: commit ' + job.commit); }
      const box = document.getElementById('progress-box');
      box.hidden = false;
      const bar = document.getElementById('progress');
      const text = document.getElementById('progress-text');
      // Cancel, while the job can be cancelled: the job the cancel answered ends the
      // wait; a refusal is shown and the wait goes on.
      let cancelled = null;
      cancel.disabled = false;
      cancel.onclick = async () => {
        cancel.disabled = true;
        clearError(form);
        try { cancelled = await api('POST', jobPath(repository, job.id) + '/cancel'); }
        catch (err) { dialogError(form, err); cancel.disabled = false; }
      };
      while (!finished(job)) {
        cancel.hidden = !cancellable(job);
        showProgress(bar, job);
        text.textContent = job.state + ': ' + progressText(job);
        await sleep(500);
        job = cancelled || await api('GET', jobPath(repository, job.id));
      }
      cancel.hidden = true;
      cancel.onclick = null;
      showProgress(bar, job);
      text.textContent = job.state + ': ' + progressText(job);
      if (job.state === 'failed') { throw new Error(job.error || 'the import failed'); }
      if (job.state === 'cancelled' || job.state === 'no_change') {
        const note = document.createElement('p');
        note.className = 'muted';
        note.id = 'import-' + job.state.replace('_', '-');
        note.textContent = job.state === 'cancelled'
          ? 'The import was ' + cancelledBy(job) + ': nothing was committed, no branch moved.'
          : 'No change: the delivery matches the last import, so nothing was committed.';
        summaryBox.append(note);
        loadLists(repository).catch(() => {});
        return;
      }
      const done = document.createElement('p');
      done.className = 'ok';
      done.append('Imported: ');
      const link = document.createElement('a');
      link.href = '/ui/repositories/' + encodeURIComponent(repository) + '?ref=' + job.commit_id;
      link.id = 'commit-link';
      link.textContent = 'commit ' + job.commit_id.slice(0, 12);
      done.append(link);
      const merge = document.createElement('button');
      merge.type = 'button'; merge.id = 'merge-main';
      merge.textContent = 'Merge into ' + form.dataset.defaultBranch;
      merge.addEventListener('click', async () => {
        try {
          const merged = await api('POST', base + '/branches/' + encodeURIComponent(form.dataset.defaultBranch) + '/merge',
            { source: job.commit_id });
          const ok = document.createElement('p'); ok.className = 'ok'; ok.id = 'merged';
          ok.textContent = 'Merged (' + merged.outcome + '): ' + form.dataset.defaultBranch + ' is at ' + merged.commit.slice(0, 12);
          summaryBox.append(ok);
        } catch (err) { dialogError(form, err); }
      });
      summaryBox.append(done, counts(job.summary), merge);
      loadLists(repository).catch(() => {});
    } catch (err) { cancel.hidden = true; cancel.onclick = null; dialogError(form, err); }
  });
});
"#;
