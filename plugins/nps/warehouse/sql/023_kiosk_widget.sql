-- Issue 23: the shop kiosk and the website widget. Their answers are anonymous unless the widget knows the order.

-- A kiosk's location: the token in the kiosk's URL is shown once (`nps kiosk add`) and kept only as its SHA-256.
-- No personal data: BI may read it (region = the oblast the location's answers count in, spelled any way the
-- oblast_spellings seed knows).
create table if not exists ops.kiosk_locations (
    location_id text primary key check (location_id ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name        text not null,
    region      text not null,
    token_hash  text not null unique,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);

-- The collector may not read ops (INSERT on landing only): it asks this function about one token's hash and learns
-- that location's id and whether it is revoked, nothing else.
create or replace function landing.kiosk_location(hash text)
returns table (location_id text, revoked boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$ select l.location_id, l.revoked_at is not null from ops.kiosk_locations l where l.token_hash = hash $$;
revoke all on function landing.kiosk_location(text) from public;

-- A kiosk customer may leave a phone or e-mail with explicit consent to be contacted about the answer (issue 23): it
-- goes only here, to ops (PII, not for BI), never to landing or raw; a detractor's then opens a close-loop case
-- (ops.detractor_cases). consent_text is the sentence the kiosk showed, in its language, as the collector served it.
create table if not exists ops.kiosk_contacts (
    answer_id    text primary key,  -- the kiosk answer's survey id (kq + the browser's answer id)
    location_id  text not null,
    phone        text,
    email        text,
    language     text not null,
    consent_text text not null,
    consented_at timestamptz not null,
    received_at  timestamptz not null default now(),
    check ((phone is null) <> (email is null))
);

-- The collector's one way into ops: INSERT of a consented contact through this function (it may not read ops, and a
-- resend of the same answer changes nothing).
create or replace function landing.kiosk_contact(
    answer_id text, location_id text, phone text, email text, language text, consent_text text,
    consented_at timestamptz
) returns void
language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$
    insert into ops.kiosk_contacts (answer_id, location_id, phone, email, language, consent_text, consented_at)
    values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing
$$;
revoke all on function landing.kiosk_contact(text, text, text, text, text, text, timestamptz) from public;

-- Kiosk and widget answers carry the browser's answer id (a resend after a network drop is the same id: the insert
-- ignores it), the kiosk's location, or the order number the shop's site passed to the widget.
alter table landing.responses add column if not exists answer_id text;
alter table landing.responses add column if not exists location_id text;
alter table landing.responses add column if not exists order_number text;
create unique index if not exists landing_responses_answer_id on landing.responses (answer_id);
alter table raw.survey_responses add column if not exists location_id text;
alter table raw.survey_responses add column if not exists answer_id text;  -- the funnel's link to its page view

-- The funnel's first step per channel (marts.survey_funnel_by_channel): a QR page opened (`qr`, its survey id), a kiosk
-- session begun (`kiosk`, the session's answer id), the widget shown (`web`, its answer id). dbt reads it as it is.
create table if not exists landing.page_views (
    id          bigserial primary key,
    channel     text not null,
    view_id     text not null,
    location_id text,
    viewed_at   timestamptz not null,
    received_at timestamptz not null default now()
);
create unique index if not exists landing_page_views_view on landing.page_views (channel, view_id);
