CREATE TABLE "pii_grants" (
	"id" serial PRIMARY KEY NOT NULL,
	"request_id" integer NOT NULL,
	"analyst_id" integer NOT NULL,
	"role_name" text NOT NULL,
	"dataset" text NOT NULL,
	"group_role" text NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"warned_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"end_reason" text,
	"ended_by" text
);
--> statement-breakpoint
CREATE TABLE "pii_request_reviews" (
	"id" serial PRIMARY KEY NOT NULL,
	"request_id" integer NOT NULL,
	"reviewer" text NOT NULL,
	"decision" text NOT NULL,
	"comment" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pii_request_reviews_decision" CHECK ("pii_request_reviews"."decision" IN ('approve', 'deny'))
);
--> statement-breakpoint
CREATE TABLE "pii_requests" (
	"id" serial PRIMARY KEY NOT NULL,
	"analyst_id" integer NOT NULL,
	"datasets" text[] NOT NULL,
	"purpose" text NOT NULL,
	"duration_seconds" integer NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"review_deadline" timestamp with time zone NOT NULL,
	"approvals_required" integer NOT NULL,
	"decided_at" timestamp with time zone,
	"decided_by" text,
	"decision_comment" text,
	CONSTRAINT "pii_requests_state" CHECK ("pii_requests"."state" IN ('pending', 'approved', 'denied', 'withdrawn', 'expired'))
);
--> statement-breakpoint
CREATE TABLE "webhook_outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"failed_at" timestamp with time zone,
	"last_error" text
);
--> statement-breakpoint
ALTER TABLE "pii_grants" ADD CONSTRAINT "pii_grants_request_id_pii_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."pii_requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pii_grants" ADD CONSTRAINT "pii_grants_analyst_id_analysts_id_fk" FOREIGN KEY ("analyst_id") REFERENCES "public"."analysts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pii_request_reviews" ADD CONSTRAINT "pii_request_reviews_request_id_pii_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."pii_requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pii_requests" ADD CONSTRAINT "pii_requests_analyst_id_analysts_id_fk" FOREIGN KEY ("analyst_id") REFERENCES "public"."analysts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "pii_grants_one_live" ON "pii_grants" USING btree ("analyst_id","dataset") WHERE ended_at IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "pii_grants_request_dataset" ON "pii_grants" USING btree ("request_id","dataset");--> statement-breakpoint
CREATE INDEX "pii_grants_live" ON "pii_grants" USING btree ("expires_at") WHERE ended_at IS NULL;--> statement-breakpoint
CREATE INDEX "pii_grants_role" ON "pii_grants" USING btree ("role_name","starts_at");--> statement-breakpoint
CREATE UNIQUE INDEX "pii_request_reviews_one_each" ON "pii_request_reviews" USING btree ("request_id","reviewer");--> statement-breakpoint
CREATE INDEX "pii_requests_pending" ON "pii_requests" USING btree ("review_deadline") WHERE state = 'pending';--> statement-breakpoint
CREATE INDEX "pii_requests_analyst" ON "pii_requests" USING btree ("analyst_id","created_at");--> statement-breakpoint
CREATE INDEX "webhook_outbox_due" ON "webhook_outbox" USING btree ("next_attempt_at") WHERE delivered_at IS NULL AND failed_at IS NULL;