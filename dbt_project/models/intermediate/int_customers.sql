{{ config(indexes=[{'columns': ['customer_ref'], 'unique': True}]) }}
-- 1C customers matched to the CRM: by 1C code first, then normalized e-mail, then phone (the CRM contact and
-- company are matched separately; the better match names the method). Region from the spelling seed (unmapped ->
-- 'невідомо'), segment from the CRM company (else contact), language from the contact.

with customers as (
    select * from {{ ref('stg_onec__customers') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

companies as (
    select * from {{ ref('stg_crm__companies') }}
),

spellings as (
    select distinct
        {{ normalize_spelling('spelling') }} as spelling_key,
        region
    from {{ ref('oblast_spellings') }}
),

candidates as (
    {%- set matches = [
        ('contacts', 'contact_id', 'customer_code', 'onec_code', 1, 'code'),
        ('companies', 'company_id', 'customer_code', 'onec_code', 1, 'code'),
        ('contacts', 'contact_id', 'email', 'email', 2, 'email'),
        ('companies', 'company_id', 'email', 'email', 2, 'email'),
        ('contacts', 'contact_id', 'phone_key', 'phone_key', 3, 'phone'),
        ('companies', 'company_id', 'phone_key', 'phone_key', 3, 'phone'),
    ] %}
    {%- for crm, id_column, customer_column, crm_column, priority, method in matches %}
        select
            cu.customer_ref,
            {{ priority }} as priority,
            '{{ method }}' as method,
            {{ 'crm.contact_id' if id_column == 'contact_id' else 'null::text' }} as contact_id,
            {{ 'crm.company_id' if id_column == 'company_id' else 'null::text' }} as company_id,
            crm.modified_at
        from customers as cu
        inner join {{ crm }} as crm on cu.{{ customer_column }} = crm.{{ crm_column }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

best_contact as (
    select distinct on (customer_ref)
        customer_ref,
        contact_id,
        priority,
        method
    from candidates
    where contact_id is not null
    order by customer_ref asc, priority asc, modified_at desc nulls last, contact_id asc
),

best_company as (
    select distinct on (customer_ref)
        customer_ref,
        company_id,
        priority,
        method
    from candidates
    where company_id is not null
    order by customer_ref asc, priority asc, modified_at desc nulls last, company_id asc
),

matched as (
    select
        cu.customer_ref,
        bct.contact_id,
        coalesce(bco.company_id, ct.company_id) as company_id,
        case
            when coalesce(bct.priority, 9) <= coalesce(bco.priority, 9) then coalesce(bct.method, 'none')
            else bco.method
        end as match_method
    from customers as cu
    left join best_contact as bct on cu.customer_ref = bct.customer_ref
    left join best_company as bco on cu.customer_ref = bco.customer_ref
    left join contacts as ct on bct.contact_id = ct.contact_id
),

final as (
    select
        cu.customer_ref,
        cu.customer_code,
        coalesce(ct.contact_name, cu.customer_name) as customer_name,
        cu.customer_name as legal_name,
        coalesce(co.company_title, cu.customer_name) as company_name,
        cu.legal_kind,
        coalesce(cu.email, ct.email, co.email) as email,
        coalesce(cu.phone, ct.phone, co.phone) as phone,
        coalesce(ct.language, '{{ languages()[0] }}') as language,
        cu.region_raw,
        coalesce(sp.region, 'невідомо') as region,
        coalesce(co.segment, ct.segment, 'unknown') as segment,
        m.match_method,
        m.contact_id as crm_contact_id,
        m.company_id as crm_company_id,
        coalesce(co.assigned_by_id, ct.assigned_by_id) as crm_assigned_by_id,
        cu.is_deleted,
        cu.loaded_at
    from customers as cu
    inner join matched as m on cu.customer_ref = m.customer_ref
    left join contacts as ct on m.contact_id = ct.contact_id
    left join companies as co on m.company_id = co.company_id
    left join spellings as sp on cu.region_spelling = sp.spelling_key
    where cu.customer_ref is not null
)

select * from final
