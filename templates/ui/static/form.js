// The case form's enhancements. The form works without them: the server adds and removes rows, the
// datalists offer choices, and saving checks everything. With them: rows are added and removed in the page
// (no reload), spreadsheet rows paste into the lab grid, MedDRA terms, drugs and LOINC codes are looked up as
// you type, a lab test's name fills its LOINC code, a drug from the dictionary its RxNorm and ATC codes,
// and the ids of the case's drugs and reactions are offered where other fields refer to them.
(function () {
  'use strict';
  const form = document.querySelector('form.caseform');
  if (!form) return;

  const byName = (name) => form.querySelector(`[name="${CSS.escape(name)}"]`);
  const listBox = (list) => [...form.querySelectorAll('fieldset[data-list]')].find((f) => f.dataset.list === list);
  const ownRows = (box) => [...box.querySelectorAll('.rows')].find((r) => r.closest('fieldset[data-list]') === box);
  const templates = document.querySelectorAll('#row-templates > template');

  // The empty row of a list: its template (one per repeating group, at placeholder row numbers 90000 + depth)
  // with the numbers of the rows the list sits in and the new row's own number put in.
  function rowHtml(list, n) {
    const generic = list.replace(/\[\d+\]/g, '[*]');
    const template = [...templates].find((t) => t.dataset.for === generic);
    if (!template) return null;
    const outer = [...list.matchAll(/\[(\d+)\]/g)].map((m) => m[1]);
    const base = parseInt(template.dataset.placeholder, 10) - outer.length;
    let html = template.innerHTML;
    outer.forEach((index, depth) => { html = html.split(String(base + depth)).join(index); });
    return html.split(template.dataset.placeholder).join(String(n));
  }

  function addRow(list) {
    const box = listBox(list);
    const counter = byName(`${list}#rows`);
    if (!box || !counter) return null;
    const n = parseInt(counter.value || '0', 10);
    const html = rowHtml(list, n);
    if (html === null) return null;
    const rows = ownRows(box);
    rows.insertAdjacentHTML('beforeend', html);
    counter.value = String(n + 1);
    const count = box.querySelector('legend .count');
    if (count) count.textContent = String(n + 1);
    showWhen(null);
    return rows.lastElementChild;
  }

  function removeRow(button) {
    const row = button.closest('tr') || button.closest('fieldset.group, details.group');
    if (!row) return;
    for (const control of row.querySelectorAll('input, select, textarea')) {
      if (control.type === 'hidden') continue;
      if (control.type === 'checkbox' || control.type === 'radio') control.checked = false;
      else if (control.tagName === 'SELECT') control.value = '';
      else control.value = '';
    }
    row.hidden = true; // an empty row is dropped when the form is saved
    showWhen(null);
  }

  form.addEventListener('click', (event) => {
    const button = event.target.closest('button[name="_action"]');
    if (!button) return;
    const [verb, target] = [button.value.split(':', 1)[0], button.value.slice(button.value.indexOf(':') + 1)];
    if (verb === 'add') {
      const row = addRow(target);
      if (!row) return; // no template: the server adds the row
      event.preventDefault();
      const first = row.querySelector('input:not([type=hidden]), select, textarea');
      if (first) first.focus();
    } else if (verb === 'remove') {
      event.preventDefault();
      removeRow(button);
    }
  });

  // --- paste rows from a spreadsheet into the lab grid --------------------------------------------------
  function setValue(control, text) {
    text = text.trim();
    if (control.tagName === 'SELECT') {
      const option = [...control.options].find((o) => o.value === text || o.textContent.trim() === text);
      control.value = option ? option.value : '';
    } else if (control.type === 'checkbox') {
      control.checked = ['true', 'yes', 'y', '1', 'x'].includes(text.toLowerCase());
    } else {
      control.value = text;
    }
    control.dispatchEvent(new Event('change', { bubbles: true }));
  }

  form.addEventListener('paste', (event) => {
    const cell = event.target.closest && event.target.closest('table.labgrid td');
    if (!cell) return;
    const text = (event.clipboardData || window.clipboardData).getData('text/plain');
    if (!/[\t\n]/.test(text.replace(/\n$/, ''))) return; // one value: an ordinary paste
    event.preventDefault();
    const table = cell.closest('table.labgrid');
    const columns = table.querySelectorAll('thead th[data-col]').length;
    const start = [...cell.parentElement.children].indexOf(cell);
    const lines = text.replace(/\r/g, '').replace(/\n+$/, '').split('\n');
    let row = cell.parentElement;
    for (const line of lines) {
      while (row && row.hidden) row = row.nextElementSibling;
      if (!row) row = addRow(table.dataset.list);
      if (!row) break;
      line.split('\t').forEach((value, j) => {
        if (start + j >= columns) return;
        const control = row.children[start + j].querySelector('input, select, textarea');
        if (control) setValue(control, value);
      });
      row = row.nextElementSibling;
    }
  });

  // --- look-ups -----------------------------------------------------------------------------------------
  const lookupUrl = (kind, q) => form.dataset.lookupUrl.replace('KIND', kind) + '?q=' + encodeURIComponent(q);
  const found = new Map(); // code or term -> the look-up's item
  let timer = null;

  function sibling(control, field) {
    return byName(control.name.replace(/\.(code|term)$/, '.' + field));
  }

  function fillMeddra(control) {
    const item = found.get(control.value.trim());
    if (!item) return;
    const other = sibling(control, control.dataset.lookup === 'meddra' ? 'term' : 'code');
    if (other) other.value = control.dataset.lookup === 'meddra' ? item.label : item.code;
    const version = sibling(control, 'version');
    if (version && !version.value && item.version) version.value = item.version;
  }

  async function searchMeddra(control) {
    const q = control.value.trim();
    if (q.length < 3 || /^\d{8}$/.test(q)) return;
    const response = await fetch(lookupUrl('meddra', q), { credentials: 'same-origin' });
    if (!response.ok) return;
    const answer = await response.json();
    const list = document.getElementById(control.dataset.lookup === 'meddra' ? 'dl-meddra' : 'dl-meddra-term');
    list.replaceChildren(...answer.items.map((item) => {
      found.set(item.code, item);
      found.set(item.label, item);
      const option = document.createElement('option');
      const where = item.level + (item.pt ? ` of PT ${item.pt}` : '');
      if (control.dataset.lookup === 'meddra') { option.value = item.code; option.label = `${item.label} (${where})`; }
      else { option.value = item.label; option.label = `${item.code} (${where})`; }
      return option;
    }));
    control.setAttribute('list', list.id);
  }

  // Drugs and lab tests are also looked up on the server, in the user's drug dictionary and LOINC table
  // (REPORTER_DRUG_FILE, REPORTER_LOINC_FILE); without them the answer is the offline list or nothing.
  const SERVED = { drug: 'drug', loinc: 'loinc', 'lab-name': 'loinc' };

  async function searchServed(control) {
    const kind = control.dataset.lookup;
    const q = control.value.trim();
    if (q.length < 3) return;
    const response = await fetch(lookupUrl(SERVED[kind], q), { credentials: 'same-origin' });
    if (!response.ok) return;
    const answer = await response.json();
    const list = document.getElementById('dl-' + kind);
    if (!list || !answer.items.length) return; // keep what the list offers
    list.replaceChildren(...answer.items.map((item) => {
      const option = document.createElement('option');
      if (kind === 'loinc') { option.value = item.code; option.label = item.label; }
      else if (kind === 'lab-name') { option.value = item.label; option.label = item.code; }
      else {
        found.set('drug:' + item.label, item);
        option.value = item.label;
        option.label = [item.rxnorm && `RxNorm ${item.rxnorm}`, item.atc && `ATC ${item.atc}`].filter(Boolean).join(', ');
      }
      return option;
    }));
  }

  function fillLoinc(control) { // a known test's name gives its LOINC code
    const option = [...document.getElementById('dl-lab-name').options].find((o) => o.value === control.value.trim());
    const loinc = byName(control.name.replace(/\.name$/, '.loinc'));
    if (option && loinc && !loinc.value) loinc.value = option.label;
  }

  function fillDrugCodes(control) { // a drug chosen from the dictionary gives its RxNorm and ATC codes
    const item = found.get('drug:' + control.value.trim());
    if (!item || !/\.product$/.test(control.name)) return;
    for (const field of ['rxnorm', 'atc']) {
      const target = byName(control.name.replace(/\.product$/, '.' + field));
      if (target && !target.value && item[field]) target.value = item[field];
    }
  }

  form.addEventListener('input', (event) => {
    const control = event.target;
    const lookup = control.dataset && control.dataset.lookup;
    if (lookup === 'lab-name') fillLoinc(control);
    if (lookup === 'meddra' || lookup === 'meddra-term') {
      clearTimeout(timer);
      timer = setTimeout(() => searchMeddra(control), 200);
    }
    if (lookup in SERVED) {
      clearTimeout(timer);
      timer = setTimeout(() => searchServed(control), 200);
    }
  });

  function refreshIds(prefix, listId) {
    const list = document.getElementById(listId);
    if (!list) return;
    const pattern = new RegExp(`^${prefix}\\[\\d+\\]\\.id$`);
    const ids = [...form.querySelectorAll('input[name$=".id"]')].filter((i) => pattern.test(i.name) && i.value.trim());
    list.replaceChildren(...ids.map((i) => Object.assign(document.createElement('option'), { value: i.value.trim() })));
  }

  // --- a value given in one shape of a union (a date, relative to a drug, why unknown) empties the others ---
  // An imported case holds "no information" for every seriousness criterion E2B did not send: choosing "yes"
  // must replace that reason, not be refused on save as two answers for one field.
  function unionShapes(union) {
    const alt = [...union.querySelectorAll('details.alt')].find((d) => d.closest('.union') === union);
    if (!alt) return [];
    const first = union.matches('fieldset') ? union.querySelector('.variants > :first-child')
      : union.querySelector('.shapes > :is(input, select, textarea)');
    return [first, ...[...alt.children].filter((c) => c.tagName !== 'SUMMARY')].filter(Boolean);
  }

  function clearControl(control) {
    if (control.type === 'hidden') return;
    if (control.type === 'checkbox' || control.type === 'radio') control.checked = false;
    else control.value = '';
  }

  function keepOneShape(control) {
    const union = control.closest('.union');
    if (!union || held(control) === '') return;
    const shapes = unionShapes(union);
    const own = shapes.find((s) => s === control || s.contains(control));
    if (!own) return;
    for (const other of shapes) {
      if (other === own) continue;
      const controls = other.matches('input, select, textarea') ? [other] : other.querySelectorAll('input, select, textarea');
      controls.forEach(clearControl);
    }
  }

  form.addEventListener('change', (event) => {
    const control = event.target;
    keepOneShape(control);
    const lookup = control.dataset && control.dataset.lookup;
    if (lookup === 'meddra' || lookup === 'meddra-term') fillMeddra(control);
    if (lookup === 'lab-name') fillLoinc(control);
    if (lookup === 'drug') fillDrugCodes(control);
    if (/^drugs\[\d+\]\.id$/.test(control.name)) refreshIds('drugs', 'dl-drug-id');
    if (/^reactions\[\d+\]\.id$/.test(control.name)) refreshIds('reactions', 'dl-reaction-id');
  });

  // --- parts that apply only when other answers say so (mappings/ui_form.yaml `show_when`) ---------------------
  // A part is hidden until a control it names holds one of the values that make it apply. Hiding is only
  // visual: nothing in it is cleared, and a part that holds a value or a problem stays shown.
  const patterns = new Map();
  function pattern(path) { // a case-file path with [*] for any row -> a RegExp over control names
    if (!patterns.has(path)) {
      const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').split('\\[\\*\\]').join('\\[\\d+\\]');
      patterns.set(path, new RegExp(`^${escaped}$`));
    }
    return patterns.get(path);
  }

  function held(control) { // what a control holds: its value, or nothing (an unticked box, an empty field)
    if (control.type === 'checkbox' || control.type === 'radio') return control.checked ? control.value : '';
    return control.value.trim();
  }

  function applies(rules, controls) {
    return rules.some((rule) => {
      const re = pattern(rule.field);
      return controls.some((c) => re.test(c.name) && rule.values.includes(held(c)));
    });
  }

  function holdsSomething(part) {
    if (part.querySelector('.errors, .warnings')) return true;
    return [...part.querySelectorAll('input, select, textarea')].some((c) => c.type !== 'hidden' && held(c) !== '');
  }

  // A part shown by the answer just given may sit in another section (the death details are the patient's):
  // a note at that answer names it and links to it, and is read out by screen readers.
  function announce(control, shown) {
    const old = form.querySelector('p.shown-note');
    if (old) old.remove();
    const field = control && control.closest('.field, fieldset');
    if (!field || !shown.length) return;
    const note = document.createElement('p');
    note.className = 'help shown-note';
    note.setAttribute('role', 'status');
    note.append('Now shown: ');
    shown.forEach((part, i) => {
      const target = part.querySelector('[id]');
      const title = part.querySelector('summary, legend, label, h3');
      const section = part.closest('section.form-section');
      const link = Object.assign(document.createElement('a'), { href: `#${target ? target.id : ''}` });
      link.textContent = title ? title.innerText.replace(/\s*\(.*$/s, '').trim() : 'more fields';
      if (i) note.append('; ');
      note.append(link);
      const heading = section && section.querySelector('h2');
      if (heading && !section.contains(control)) note.append(` (in ${heading.textContent.trim()})`);
    });
    field.append(note);
  }

  const byHand = new Set(); // the conditions (as their JSON) whose parts the user showed with their button
  form.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-reveal]');
    if (!button) return;
    byHand.add(button.dataset.reveal);
    let first = null;
    for (const part of form.querySelectorAll('[data-show-when]')) {
      if (part.dataset.showWhen !== button.dataset.reveal) continue;
      part.hidden = false;
      const fold = part.querySelector('details');
      if (fold) fold.open = true;
      first = first || part.querySelector('input:not([type=hidden]), select, textarea');
    }
    button.parentElement.hidden = true;
    if (first) first.focus();
  });

  let pending = null; // one pass for many changes in a row (a paste fills a grid row by row)
  function showWhen(source) { // source: the control just changed (its answer may show parts), or null
    pending = pending || { source: null };
    pending.source = source || pending.source;
    if (pending.queued) return;
    pending.queued = true;
    queueMicrotask(() => {
      const control = pending.source;
      pending = null;
      const controls = [...form.elements].filter((c) => c.name && c.type !== 'hidden' && !c.closest('[hidden]'));
      const seen = new Map();
      const shown = [];
      for (const part of form.querySelectorAll('[data-show-when]')) {
        const rules = part.dataset.showWhen;
        if (!seen.has(rules)) seen.set(rules, byHand.has(rules) || applies(JSON.parse(rules), controls));
        const show = seen.get(rules) || holdsSomething(part);
        // Shown by what the user just chose: open it, too, and say so at the answer (not for a field under a
        // "More" fold: the fold names it, and the user opens it when they need it).
        if (show && part.hidden && control && !part.closest('details.more')) {
          const fold = part.querySelector('details');
          if (fold) fold.open = true;
          shown.push(part);
        }
        part.hidden = !show;
      }
      for (const button of form.querySelectorAll('button[data-reveal]')) { // offered while its parts hide
        const part = [...form.querySelectorAll('[data-show-when]')].find((p) => p.dataset.showWhen === button.dataset.reveal);
        button.parentElement.hidden = !(part && part.hidden);
      }
      for (const label of form.querySelectorAll('[data-label-of]')) { // "More (…)" names only what shows
        const target = document.getElementById(label.dataset.labelOf);
        const part = target && target.closest('[data-show-when]');
        label.hidden = !!(part && part.hidden);
      }
      for (const labels of form.querySelectorAll('.more-labels')) {
        let before = false;
        for (const item of labels.children) {
          if (item.classList.contains('sep')) { item.hidden = true; continue; }
          if (item.hidden) continue;
          const sep = item.previousElementSibling;
          if (before && sep) sep.hidden = false;
          before = true;
        }
      }
      if (control) announce(control, shown);
    });
  }
  form.addEventListener('change', (event) => showWhen(event.target));
  showWhen(null);

  // --- the E2B detail switch, remembered on this computer ---------------------------------------------------
  const e2b = document.getElementById('e2b-detail');
  if (e2b) {
    if (localStorage.getItem('reporter.e2b-detail') === '1') e2b.checked = true;
    e2b.addEventListener('change', () => localStorage.setItem('reporter.e2b-detail', e2b.checked ? '1' : '0'));
  }

  // --- the error summary's links take focus to the field's control ------------------------------------------
  // A field of several shapes (a date or why it is unknown) or a group is a box that cannot take focus: its
  // link would leave focus where it was. Its first control takes focus instead, opened if folded.
  const problems = document.getElementById('problems');
  if (problems) {
    problems.addEventListener('click', (event) => {
      const link = event.target.closest('a[href^="#"]');
      const box = link && document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (!box || box.matches('input, select, textarea')) return;
      const control = box.querySelector('input:not([type="hidden"]), select, textarea');
      if (!control) return;
      for (let fold = control.closest('details'); fold; fold = fold.parentElement.closest('details')) fold.open = true;
      event.preventDefault();
      control.focus();
    });
  }
})();
