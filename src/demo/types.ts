// Row shapes shared by the generator, the transform and the loader.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface DemoUser {
  id: number;
  username: string;
  /** Display name, e.g. "Alice Liddell": only ever used as a git author / Discourse name. */
  fullName: string;
  email: string;
}

export interface DemoPackage {
  id: number;
  name: string;
}

/** One row of datanommer.messages plus what the bridge tables need. */
export interface SourceMessage {
  id: number;
  msgId: string;
  i: number;
  topic: string;
  /** `YYYY-MM-DD HH:MM:SS.mmm`, UTC, for a `timestamp without time zone` column. */
  timestamp: string;
  category: string;
  agentName: string | null;
  sourceName: string;
  sourceVersion: string;
  msg: JsonObject;
  headers: JsonObject;
  /** Usernames involved (datanommer's users_messages). */
  usernames: string[];
  /** Package names involved (datanommer's packages_messages). */
  packages: string[];
}

/** One row of pseudonymized.messages. */
export interface PseudonymizedMessage {
  id: number;
  msgId: string;
  i: number;
  topic: string;
  timestamp: string;
  category: string;
  agentPseudonym: string | null;
  sourceName: string;
  sourceVersion: string;
  msg: JsonObject;
  headers: JsonObject;
}

/** One row of pii.message_text: free text taken out of the pseudonymized tier. */
export interface MessageText {
  msgId: string;
  kind: 'comment' | 'commit';
  authorName: string | null;
  authorEmail: string | null;
  body: string;
}
