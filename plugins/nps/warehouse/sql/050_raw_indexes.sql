-- Indexes for the incremental dbt models (int_sale_lines, int_purchases, int_customers, int_survey_responses,
-- int_sendgrid_events).
-- Their scope sets filter raw through the staging views: by load time (`loaded_at` is `_loaded_at` unchanged), then
-- by the staged document keys. The staged keys are `onec_ref(column)` (dbt_project/macros/cleaning.sql), so the key
-- indexes are on that exact expression: the planner only uses an expression index whose expression is identical to
-- the query's, and ANALYZE keeps statistics for it (the planner has none for the bare expression otherwise).
-- Keep them in step with the macro (tests/test_dbt_incremental.py checks the plans use them).

create index if not exists onec_sales_loaded_idx on raw.onec_sales (_loaded_at);
create index if not exists onec_sales_ref_idx
    on raw.onec_sales ((nullif(nullif(trim(ref_key), ''), '00000000-0000-0000-0000-000000000000')));
create index if not exists onec_sales_order_idx
    on raw.onec_sales ((nullif(nullif(trim(order_ref), ''), '00000000-0000-0000-0000-000000000000')));
create index if not exists onec_sales_customer_idx
    on raw.onec_sales ((nullif(nullif(trim(customer_ref), ''), '00000000-0000-0000-0000-000000000000')));

create index if not exists onec_sale_lines_loaded_idx on raw.onec_sale_lines (_loaded_at);
create index if not exists onec_sale_lines_sale_idx
    on raw.onec_sale_lines ((nullif(nullif(trim(sale_ref), ''), '00000000-0000-0000-0000-000000000000')));

create index if not exists onec_customers_loaded_idx on raw.onec_customers (_loaded_at);
create index if not exists onec_customers_ref_idx
    on raw.onec_customers ((nullif(nullif(trim(ref_key), ''), '00000000-0000-0000-0000-000000000000')));

create index if not exists onec_orders_loaded_idx on raw.onec_orders (_loaded_at);
create index if not exists onec_orders_ref_idx
    on raw.onec_orders ((nullif(nullif(trim(ref_key), ''), '00000000-0000-0000-0000-000000000000')));

create index if not exists onec_order_lines_loaded_idx on raw.onec_order_lines (_loaded_at);
create index if not exists onec_order_lines_order_idx
    on raw.onec_order_lines ((nullif(nullif(trim(order_ref), ''), '00000000-0000-0000-0000-000000000000')));

create index if not exists onec_deliveries_loaded_idx on raw.onec_deliveries (_loaded_at);
create index if not exists onec_deliveries_order_idx
    on raw.onec_deliveries ((nullif(nullif(trim(order_ref), ''), '00000000-0000-0000-0000-000000000000')));

create index if not exists survey_responses_loaded_idx on raw.survey_responses (_loaded_at);
create index if not exists survey_responses_responded_idx on raw.survey_responses (responded_at);
create index if not exists sendgrid_events_loaded_idx on raw.sendgrid_events (_loaded_at);

-- int_customers matches the few customers a night changes to CRM records by 1C code, e-mail and phone: the CRM's
-- staged keys are blank_to_null(), clean_email() and phone_key() (dbt_project/macros/cleaning.sql), verbatim here,
-- the same five indexes on contacts and companies.
do $$
declare
    crm text;
begin
    foreach crm in array array['contacts', 'companies'] loop
        execute format('create index if not exists crm_%1$s_loaded_idx on raw.crm_%1$s (_loaded_at)', crm);
        execute format('create index if not exists crm_%1$s_id_idx on raw.crm_%1$s ((nullif(trim(id), %2$L)))',
                       crm, '');
        execute format('create index if not exists crm_%1$s_code_idx on raw.crm_%1$s ((nullif(trim(onec_code), %2$L)))',
                       crm, '');
        execute format($f$create index if not exists crm_%1$s_email_idx on raw.crm_%1$s ((
            case
                when lower(trim(email)) ~ '^[a-z0-9._%%+''-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
                    then lower(trim(email))
            end))$f$, crm);
        execute format($f$create index if not exists crm_%1$s_phone_idx on raw.crm_%1$s ((
            case
                when length(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) >= 9
                    then right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)
            end))$f$, crm);
    end loop;
end
$$;
