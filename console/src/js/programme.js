// The renovation programme's resources (survey, roads without lamps, handover acceptance, the
// monthly report; docs/contract.md "Survey", "Acceptance", "Reports"):
//   GET /api/v1/roads                         road centre lines (the map's base)
//   GET /api/v1/survey/gaps[?site=ID]         roads without lamps, drawn red on the map
//   GET /api/v1/survey?scope=site             per site: planned / installed / registered / reporting
//   GET /api/v1/sites/{id}/acceptance         the latest acceptance run: {status: pass | fail |
//                                             none, window: {from, to}, criteria: [{number,
//                                             name, passed}], report: {html, pdf}}
//   GET /api/v1/reports/monthly?month=YYYY-MM&subdistrict=ID&format=pdf|html|csv
// A route the API answers 404 (no inventory yet, say) shows as "not available".

import { ApiError, authHeaders, expired, get, getRaw } from './api.js';

export const ROUTES = {
  roads: '/roads',
  gaps: '/survey/gaps',
  survey: '/survey',
  acceptance: (site) => `/sites/${encodeURIComponent(site)}/acceptance`,
  monthly: '/reports/monthly',
};

/** The answer, or null while the API has no such route (404) or refuses it. */
async function maybe(path, params) {
  try {
    return await get(path, params);
  } catch (error) {
    if (error instanceof ApiError && [404, 405, 501].includes(error.status)) return null;
    throw error;
  }
}

export const roads = () => maybe(ROUTES.roads);
export const darkRoads = () => maybe(ROUTES.gaps);

/** Survey counts by site id, or null. */
export async function surveyBySite() {
  const answer = await maybe(ROUTES.survey, { scope: 'site' });
  return answer && new Map(answer.rows.map((row) => [row.id, row]));
}

export const acceptance = (site) => maybe(ROUTES.acceptance(site));

/** Open a report the API serves (a link the API gave, e.g. an acceptance run's PDF) in a new
 * tab: fetched with the login's token, since a plain link would carry none. */
export async function openReport(href) {
  const opened = window.open('', '_blank'); // opened now, in the click, so no pop-up blocker
  const response = await fetch(new URL(href, location.origin), { headers: authHeaders() });
  if (response.status === 401) expired();
  if (!response.ok) {
    opened?.close();
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  const url = URL.createObjectURL(await response.blob());
  if (opened) opened.location.href = url; else window.location.assign(url);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Download the monthly report (with the login's token, so not a plain link). */
export async function downloadMonthly(month, subdistrict, format) {
  const response = await getRaw(ROUTES.monthly, { month, subdistrict, format });
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `streetlight-${month}${subdistrict ? `-${subdistrict}` : ''}.${format}`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
