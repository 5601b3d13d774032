// The override form: one or more groups (scope:id), a level or off, minutes, a reason.
// POST /api/v1/overrides once per group; the answer says whether the controller was told.

import { post } from '../api.js';
import { h, toast } from '../dom.js';
import { t } from '../i18n.js';

export const SCOPES = ['lamp', 'circuit', 'site', 'community', 'subdistrict', 'district'];

/**
 * A form for `groups` (a list, ["site:PP-S01", ...], or a function giving it at submit) or,
 * without them, a scope and an id to type (`ids(scope)` suggests [id, label] pairs).
 * `done(saved)` after the overrides are set.
 */
export function overrideForm({ groups = null, ids = () => [], done = () => {} }) {
  const scope = h('select', { name: 'scope' },
    SCOPES.map((s) => h('option', { value: s }, t(`scope.${s}`))));
  scope.value = 'site';
  const listId = `ids-${Math.random().toString(36).slice(2)}`;
  const list = h('datalist', { id: listId });
  const ident = h('input', { name: 'id', required: true, autocomplete: 'off' });
  ident.setAttribute('list', listId);
  const fill = () => list.replaceChildren(...ids(scope.value).slice(0, 500).map(
    ([value, label]) => h('option', { value }, label)));
  scope.addEventListener('change', fill);
  fill();
  const level = h('input', { name: 'level', type: 'number', min: 0, max: 100, value: 30, required: true });
  const off = h('input', { name: 'off', type: 'checkbox' });
  off.addEventListener('change', () => { level.disabled = off.checked; });
  const minutes = h('input', { name: 'minutes', type: 'number', min: 1, max: 10080, value: 30, required: true });
  const reason = h('input', { name: 'reason', required: true, maxLength: 500 });
  const button = h('button', { type: 'submit', class: 'primary' }, t('ov.submit'));

  const form = h('form', { class: 'override-form' },
    Array.isArray(groups) ? h('p', { class: 'groups' }, groups.join(', '))
      : groups ? null : h('label', {}, h('span', {}, t('ov.group')), h('span', { class: 'row' }, scope, ident), list),
    h('label', {}, h('span', {}, t('ov.level')), h('span', { class: 'row' }, level,
      h('label', { class: 'inline' }, off, t('ov.off')))),
    h('label', {}, h('span', {}, t('ov.minutes')), minutes),
    h('label', {}, h('span', {}, t('ov.reason')), reason),
    button);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    const targets = typeof groups === 'function' ? groups()
      : groups || [`${scope.value}:${ident.value.trim()}`];
    const saved = [];
    try {
      for (const group of targets) {
        const answer = await post('/overrides', {
          group, level: off.checked ? 'off' : Number(level.value),
          minutes: Number(minutes.value), reason: reason.value.trim(),
        });
        saved.push(answer);
        toast(answer.told_controller ? t('ov.saved', { id: answer.id })
          : t('ov.not_told', { why: answer.not_told }), !answer.told_controller);
      }
    } catch (error) {
      toast(t('error.generic', { message: error.message }), true);
    } finally {
      button.disabled = false;
    }
    if (saved.length) done(saved);
  });
  return form;
}
