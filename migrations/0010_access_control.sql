CREATE TABLE "access_denials" (
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	"last_at" timestamp with time zone NOT NULL,
	"event_id" bigint,
	CONSTRAINT "access_denials_actor_action_minute_pk" PRIMARY KEY("actor","action","minute")
);
--> statement-breakpoint
ALTER TABLE "analysts" ADD COLUMN "last_groups" jsonb;--> statement-breakpoint
ALTER TABLE "access_denials" ADD CONSTRAINT "access_denials_event_id_audit_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."audit_events"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "access_denials_event" ON "access_denials" USING btree ("event_id");