-- int_sendgrid_events reads the events loaded since the newest it holds (its one watermark filter).
create index if not exists sendgrid_events_loaded_idx on raw.sendgrid_events (_loaded_at);

-- A warehouse built before the dbt models had one query shape each: the nightly change scope's triggers, their
-- tables and the indexes that mirrored dbt macros go.
drop trigger if exists onec_deliveries_keep_deleted on raw.onec_deliveries;
drop function if exists raw.keep_deleted_delivery();
drop table if exists raw.onec_deliveries_deleted;
do $$
declare
    tab text;
    op text;
begin
    foreach tab in array array['survey_sends', 'survey_clicks'] loop
        foreach op in array array['inserted', 'updated', 'deleted'] loop
            execute format('drop trigger if exists %I on raw.%I', tab || '_' || op, tab);
        end loop;
    end loop;
end
$$;
drop function if exists raw.stamp_survey_changes();
drop table if exists raw.survey_changes;
drop index if exists
    raw.onec_sales_loaded_idx, raw.onec_sales_ref_idx, raw.onec_sales_order_idx, raw.onec_sales_customer_idx,
    raw.onec_sale_lines_loaded_idx, raw.onec_sale_lines_sale_idx, raw.onec_customers_loaded_idx,
    raw.onec_customers_ref_idx, raw.onec_orders_loaded_idx, raw.onec_orders_ref_idx, raw.onec_order_lines_loaded_idx,
    raw.onec_order_lines_order_idx, raw.onec_deliveries_loaded_idx, raw.onec_deliveries_order_idx,
    raw.survey_responses_loaded_idx, raw.survey_responses_responded_idx, raw.survey_clicks_survey_idx,
    raw.crm_contacts_loaded_idx, raw.crm_contacts_id_idx, raw.crm_contacts_code_idx, raw.crm_contacts_email_idx,
    raw.crm_contacts_phone_idx, raw.crm_companies_loaded_idx, raw.crm_companies_id_idx, raw.crm_companies_code_idx,
    raw.crm_companies_email_idx, raw.crm_companies_phone_idx;
