-- raw: what `nps_extract` loads from 1C and Bitrix24. One row per source object (natural key), upserted;
-- `payload` keeps the object exactly as the source returned it, the typed columns are what the models need
-- (named in English; 1C's Cyrillic names live in plugins/nps/extract/onec_mapping.yml). `_source_version` is 1C's
-- DataVersion / Bitrix24's DATE_MODIFY; a re-load of an unchanged object changes nothing.

create table if not exists raw.onec_customers (
    ref_key         text primary key,               -- Catalog_Контрагенты.Ref_Key
    code            text,                           -- Code: the link to the CRM (UF_CRM_1C_CODE)
    name            text,                           -- Description
    legal_kind      text,                           -- ЮрФизЛицо: 'company' | 'person'
    email           text,                           -- КонтактнаяИнформация, Тип = АдресЭлектроннойПочты
    phone           text,                           -- КонтактнаяИнформация, Тип = Телефон
    region_raw      text,                           -- КонтактнаяИнформация.Регион as spelled in 1C
    deletion_mark   boolean not null default false,
    _source_version text,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);

create table if not exists raw.onec_orders (
    ref_key         text primary key,               -- Document_ЗаказКлиента.Ref_Key
    number          text,
    order_date      timestamp,                      -- Date (1C local time, no timezone)
    customer_ref    text,                           -- Контрагент_Key
    promised_date   timestamp,                      -- ДатаОтгрузки (null when 1C sent its empty date)
    posted          boolean not null default false,
    deletion_mark   boolean not null default false,
    _source_version text,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);

create table if not exists raw.onec_order_lines (
    order_ref       text not null references raw.onec_orders (ref_key) on delete cascade,
    line_number     integer not null,
    product_ref     text,
    quantity        numeric,
    _loaded_at      timestamptz not null default now(),
    primary key (order_ref, line_number)
);

-- A sale (shipment, РеализацияТоваровУслуг) is a purchase: each one is eligible for one survey.
create table if not exists raw.onec_sales (
    ref_key         text primary key,
    number          text,
    sale_date       timestamp,
    order_ref       text,                           -- Заказ_Key (null for the empty GUID)
    customer_ref    text,                           -- Контрагент_Key
    amount          numeric,                        -- СуммаДокумента
    currency        text,
    posted          boolean not null default false,
    deletion_mark   boolean not null default false,
    _source_version text,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);

-- The sale's survey (`nps.tokens.sale_survey_id` in Python), computed by Postgres whenever the loader writes the row
-- (and for the rows there already when the column is added): an answer finds its sale by this index
-- (nps.responses.known), dbt reads it as it is (stg_onec__sales).
alter table raw.onec_sales add column if not exists
    survey_id text generated always as ('sv' || left(md5(ref_key), 24)) stored;
create index if not exists onec_sales_survey_id_idx on raw.onec_sales (survey_id);

create table if not exists raw.onec_sale_lines (
    sale_ref        text not null references raw.onec_sales (ref_key) on delete cascade,
    line_number     integer not null,
    product_ref     text,
    quantity        numeric,
    price           numeric,
    amount          numeric,
    _loaded_at      timestamptz not null default now(),
    primary key (sale_ref, line_number)
);

-- InformationRegister_ДоставкаЗаказов: one delivery record per order.
create table if not exists raw.onec_deliveries (
    order_ref       text primary key,               -- Заказ_Key
    delivered_at    timestamp,                      -- ДатаДоставки (null for the empty date)
    status          text,                           -- Статус
    carrier         text,
    _source_version text,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);

create table if not exists raw.crm_companies (
    id              text primary key,
    title           text,
    onec_code       text,                           -- UF_CRM_1C_CODE (configurable)
    segment         text,                           -- UF_CRM_SEGMENT (configurable)
    assigned_by_id  text,
    email           text,
    phone           text,
    date_modify     timestamptz,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);

create table if not exists raw.crm_contacts (
    id              text primary key,
    name            text,
    last_name       text,
    company_id      text,
    onec_code       text,
    segment         text,
    language        text,                           -- preferred language (configurable field), uk/ru/en/pl
    assigned_by_id  text,
    email           text,                           -- first EMAIL value
    phone           text,                           -- first PHONE value
    date_modify     timestamptz,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);

create table if not exists raw.crm_users (
    id              text primary key,
    email           text,
    name            text,
    last_name       text,
    language        text,
    active          boolean,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now(),
    _run_id         text
);
