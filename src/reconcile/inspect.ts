// Reads what the warehouse grants today, from the catalogs only (no data). Runtime-agnostic: any
// pg-compatible client. Only roles under the gate's prefix and the governed schemas are read;
// grants to other roles are outside the gate's business and are never reported or touched.
import type pg from 'pg';

export interface RoleRow {
  name: string;
  login: boolean;
  superuser: boolean;
}

export interface MembershipRow {
  group: string;
  member: string;
  grantor: string;
  admin: boolean;
  /** PG16+ per-grant options; on PG15 they mirror the member's own INHERIT and SET is always possible. */
  inherit: boolean;
  set: boolean;
}

export interface AclEntry {
  /** A role name, or `PUBLIC`. */
  grantee: string;
  privilege: string;
  grantor: string;
}

export interface TableRow {
  schema: string;
  name: string;
  /** r table, p partitioned, v view, m matview, f foreign. */
  kind: string;
  partition: boolean;
  owner: string;
  acl: AclEntry[];
}

export interface SchemaRow {
  name: string;
  owner: string;
  acl: AclEntry[];
}

export interface DefaultAclRow {
  owner: string;
  /** null: the owner's global default (no IN SCHEMA). */
  schema: string | null;
  grantee: string;
  privilege: string;
}

export interface WarehouseState {
  serverVersionNum: number;
  database: { name: string; owner: string; acl: AclEntry[] };
  currentUser: string;
  superuser: boolean;
  /** Roles whose name starts with the prefix. */
  roles: Map<string, RoleRow>;
  /** Grants where the group or the member is under the prefix. */
  memberships: MembershipRow[];
  tables: TableRow[];
  schemas: SchemaRow[];
  defaultAcls: DefaultAclRow[];
}

/** Grantees we report: PUBLIC and roles under the prefix. */
const aclJson = (aclExpr: string) => `COALESCE((
  SELECT json_agg(json_build_object(
           'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
           'privilege', a.privilege_type, 'grantor', pg_get_userbyid(a.grantor)))
    FROM aclexplode(${aclExpr}) a
   WHERE a.grantee = 0 OR starts_with(pg_get_userbyid(a.grantee), $1)), '[]'::json)`;

/** One round trip: every catalog fact the planner needs, as one JSON document. */
export const INSPECT_SQL = (pg16: boolean) => `
SELECT json_build_object(
  'serverVersionNum', current_setting('server_version_num')::int,
  'currentUser', current_user,
  'superuser', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  'database', (SELECT json_build_object('name', datname, 'owner', pg_get_userbyid(datdba),
                 'acl', ${aclJson(`COALESCE(datacl, acldefault('d', datdba))`)})
                 FROM pg_database WHERE datname = current_database()),
  'roles', COALESCE((SELECT json_agg(json_build_object('name', rolname, 'login', rolcanlogin, 'superuser', rolsuper))
                       FROM pg_roles WHERE starts_with(rolname, $1)), '[]'::json),
  'memberships', COALESCE((SELECT json_agg(json_build_object(
        'group', g.rolname, 'member', m.rolname, 'grantor', pg_get_userbyid(a.grantor), 'admin', a.admin_option,
        'inherit', ${pg16 ? 'a.inherit_option' : 'm.rolinherit'}, 'set', ${pg16 ? 'a.set_option' : 'true'}))
      FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
     WHERE starts_with(g.rolname, $1) OR starts_with(m.rolname, $1)), '[]'::json),
  'tables', COALESCE((SELECT json_agg(json_build_object(
        'schema', n.nspname, 'name', c.relname, 'kind', c.relkind, 'partition', c.relispartition,
        'owner', pg_get_userbyid(c.relowner), 'acl', ${aclJson('c.relacl')}) ORDER BY n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY($2::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')), '[]'::json),
  'schemas', COALESCE((SELECT json_agg(json_build_object('name', nspname, 'owner', pg_get_userbyid(nspowner),
        'acl', ${aclJson(`COALESCE(nspacl, acldefault('n', nspowner))`)}))
      FROM pg_namespace WHERE nspname = ANY($2::text[])), '[]'::json),
  'defaultAcls', COALESCE((SELECT json_agg(json_build_object('owner', pg_get_userbyid(d.defaclrole), 'schema', n.nspname,
        'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, 'privilege', a.privilege_type))
      FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
     WHERE d.defaclobjtype = 'r' AND (d.defaclnamespace = 0 OR n.nspname = ANY($2::text[]))
       AND (a.grantee = 0 OR starts_with(pg_get_userbyid(a.grantee), $1))), '[]'::json)
) AS state`;

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function serverVersionNum(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  return Number(rows[0]!.v);
}

export async function inspectWarehouse(db: Queryable, prefix: string, governedSchemas: string[], versionNum?: number): Promise<WarehouseState> {
  const v = versionNum ?? (await serverVersionNum(db));
  const { rows } = await db.query<{ state: Omit<WarehouseState, 'roles'> & { roles: RoleRow[] } }>(INSPECT_SQL(v >= 160000), [
    prefix,
    governedSchemas,
  ]);
  const s = rows[0]!.state;
  return { ...s, roles: new Map(s.roles.map((r) => [r.name, r])) };
}
