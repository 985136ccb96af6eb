// Reads what the warehouse grants today, from the catalogs only (no data). Runtime-agnostic: any
// pg-compatible client. Only roles under the gate's prefix and the governed schemas are read;
// grants to other roles are outside the gate's business and are never reported or touched.
import type pg from 'pg';
import { gatePrivateSchema, managedRoles } from '../provisioner/roles.js';
import { quoteIdent } from '../provisioner/sql.js';

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

/** One row of pg_db_role_setting for a role under the prefix. */
export interface RoleSettingRow {
  role: string;
  /** null: for every database (ALTER ROLE ... SET); else ALTER ROLE ... IN DATABASE <name> SET. */
  database: string | null;
  /** `name=value` as PostgreSQL stores it. */
  config: string[];
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
  roleSettings: RoleSettingRow[];
  /** The bootstrap's password check is in place: both functions, superuser-owned SECURITY DEFINER, the gate may run them. */
  passwordCheck: boolean;
  /** Role -> password state from the check (see passwordCheckSql); null without the check. */
  passwords: Map<string, PasswordState> | null;
}

/** none: no password; unrecorded: nothing recorded for this issue; gate: the gate's; changed: someone else's. */
export type PasswordState = 'none' | 'unrecorded' | 'gate' | 'changed';

/** Grantees we report: PUBLIC and roles under the prefix. */
const aclJson = (aclExpr: string) => `COALESCE((
  SELECT json_agg(json_build_object(
           'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
           'privilege', a.privilege_type, 'grantor', pg_get_userbyid(a.grantor)))
    FROM aclexplode(${aclExpr}) a
   WHERE a.grantee = 0 OR starts_with(pg_get_userbyid(a.grantee), $1)), '[]'::json)`;

/** One round trip: every catalog fact the planner needs, as one JSON document ($1 prefix, $2 governed schemas, $3 the gate's private schema, $4 the gate). */
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
       AND (a.grantee = 0 OR starts_with(pg_get_userbyid(a.grantee), $1))), '[]'::json),
  'roleSettings', COALESCE((SELECT json_agg(json_build_object('role', r.rolname, 'database', d.datname, 'config', s.setconfig)
                                     ORDER BY r.rolname, d.datname NULLS FIRST)
      FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
     WHERE starts_with(r.rolname, $1)), '[]'::json),
  'passwordCheck', COALESCE((SELECT count(*) = 2 AND has_schema_privilege(g.oid, n.oid, 'USAGE')
                                   AND bool_and(has_function_privilege(g.oid, p.oid, 'EXECUTE') AND p.prosecdef AND o.rolsuper)
      FROM pg_namespace n JOIN pg_proc p ON p.pronamespace = n.oid JOIN pg_roles o ON o.oid = p.proowner, pg_roles g
     WHERE n.nspname = $3 AND p.proname IN ('password_state', 'record_passwords') AND g.rolname = $4
     GROUP BY n.oid, g.oid), false)
) AS state`;

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function serverVersionNum(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  return Number(rows[0]!.v);
}

export async function inspectWarehouse(db: Queryable, prefix: string, governedSchemas: string[], versionNum?: number): Promise<WarehouseState> {
  const v = versionNum ?? (await serverVersionNum(db));
  const { rows } = await db.query<{ state: Omit<WarehouseState, 'roles' | 'passwords'> & { roles: RoleRow[] } }>(INSPECT_SQL(v >= 160000), [
    prefix,
    governedSchemas,
    gatePrivateSchema(prefix),
    managedRoles(prefix).gate,
  ]);
  const s = rows[0]!.state;
  let passwords: Map<string, PasswordState> | null = null;
  if (s.passwordCheck) {
    // A check that fails anyway (changed by hand) is reported like a missing one, never fatal.
    await db.query('SAVEPOINT password_check');
    try {
      const states = await db.query<{ role: string; state: PasswordState }>(`SELECT role, state FROM ${quoteIdent(gatePrivateSchema(prefix))}.password_state()`);
      passwords = new Map(states.rows.map((r) => [r.role, r.state]));
      await db.query('RELEASE SAVEPOINT password_check');
    } catch {
      await db.query('ROLLBACK TO SAVEPOINT password_check');
    }
  }
  return { ...s, roles: new Map(s.roles.map((r) => [r.name, r])), passwords };
}
