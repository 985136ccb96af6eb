CREATE TABLE "gate_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"subject" text NOT NULL,
	"email" text,
	"name" text,
	"groups" jsonb NOT NULL,
	"refresh_token" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"refresh_due_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"ended_reason" text
);
--> statement-breakpoint
CREATE INDEX "gate_sessions_live_user" ON "gate_sessions" USING btree ("username") WHERE ended_at IS NULL;