CREATE TABLE "cli_logins" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"user_code" text,
	"code_challenge" text,
	"redirect_uri" text,
	"client_name" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"session_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"last_poll_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "token_signing_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"private_jwk" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retire_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "gate_sessions" ADD COLUMN "kind" text DEFAULT 'browser' NOT NULL;--> statement-breakpoint
ALTER TABLE "gate_sessions" ADD COLUMN "parent_id" text;--> statement-breakpoint
ALTER TABLE "gate_sessions" ADD COLUMN "client_name" text;--> statement-breakpoint
ALTER TABLE "gate_sessions" ADD COLUMN "code_failures" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "gate_sessions" ADD COLUMN "code_failures_since" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "cli_logins_user_code" ON "cli_logins" USING btree ("user_code") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "cli_logins_created" ON "cli_logins" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "gate_sessions_live_parent" ON "gate_sessions" USING btree ("parent_id") WHERE ended_at IS NULL;