// The renovation programme's resources that issue 18 will add to the API. The console asks
// for them and shows "coming" while the API answers 404: once a route exists (under these
// names, or renamed here), its data shows with no other change to the console.
//
// TODO(issue 18) — the routes this console reads; each is a proposal for that issue to
// confirm or rename here:
//   GET /api/v1/roads                         road centre lines, GeoJSON LineStrings with
//                                             `name`, `road_class`, `site` (the map's base; landed)
//   GET /api/v1/survey/gaps[?site=ID]         roads without lamps: GeoJSON LineStrings with
//                                             `site`, `length_m` (drawn red on the map; landed)
//   GET /api/v1/survey?scope=site             per site: {rows: [{id, planned, installed,
//                                             registered, reporting, ...}]} (landed)
//   GET /api/v1/sites/{id}/acceptance         the latest acceptance result: {status: pass |
//                                             fail | running, window: {from, to}, criteria:
//                                             [{name, passed}], report: {html, pdf}} (links)
//   GET /api/v1/reports/monthly?month=YYYY-MM&subdistrict=ID&format=pdf|html|csv
//                                             the monthly progress report (a download)

import { ApiError, get, getRaw } from './api.js';

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
