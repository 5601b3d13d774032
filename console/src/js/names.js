// The asset tree (GET /api/v1/assets/tree?counts=true) as look-ups: names of sites and
// maintainers, each site's place and lamp counts by status, and the ids of each scope an
// override may name.

export class Names {
  constructor(tree) {
    this.district = tree.district;
    this.sites = new Map();
    this.byScope = { lamp: [], circuit: [], site: [], community: [], subdistrict: [], district: [] };
    this.maintainers = new Map(tree.maintainers.map((m) => [m.id, m.name]));
    const d = tree.district;
    if (!d) return;
    this.byScope.district.push([d.id, d.name]);
    for (const sub of d.subdistricts) {
      this.byScope.subdistrict.push([sub.id, sub.name]);
      for (const com of sub.communities) {
        this.byScope.community.push([com.id, `${com.name} · ${sub.name}`]);
        for (const site of com.sites) {
          this.sites.set(site.id, { ...site, community: com, subdistrict: sub });
          this.byScope.site.push([site.id, `${site.name} · ${com.name}`]);
          for (const cabinet of site.cabinets) {
            for (const circuit of cabinet.circuits) this.byScope.circuit.push([circuit.id, `${site.name} · ${cabinet.name}`]);
          }
        }
      }
    }
  }

  site(id) { return this.sites.get(id)?.name ?? id; }
  maintainer(id) { return this.maintainers.get(id) ?? id; }
  ids(scope) { return this.byScope[scope] || []; }
}
