{#- One row per points entry (流水号, latest version) with the item version in force on the deed's date
    and what is wrong with it: an item used outside its validity, over its monthly limit, a deed entered
    twice, a person the register had seen leave (迁出/死亡/注销) before the deed. Only approved entries
    (已审核) count towards balances, boards and stars (points_counted). -#}
with

-- person keys after linkage (int_persons_resolved): the head is the row's member_no 1, the member its 2.
-- A locator starts with its feed, so only the points ledger's records can match: filtering them first keeps
-- the join's hash table to one feed's records
resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
    where feed = 'credit_points'
),

entries as (
    select
        {{ zhili_star_except(ref('int_credit_entries_delivered'), ['head_person_key', 'member_person_key'], 'staged') }},
        heads.person_key as head_person_key,
        members.person_key as member_person_key
    from {{ ref('int_credit_entries_delivered') }} as staged
    left join resolved as heads
        on staged.record_locator = heads.record_locator
    left join resolved as members
        on {{ dbt.concat(["staged.feed", "'|'", "staged.file_md5", "'|'", "staged.sheet", "'|'",
            "cast(staged.record_no as " ~ dbt.type_string() ~ ")", "'|2'"]) }} = members.record_locator
),

items as (
    select * from {{ ref('stg_credit_items') }}
),

-- the register's departures (迁出/死亡/注销), unless a later snapshot still lists the person as 在册: a
-- person entered twice in the register has the duplicate entry 注销 and lives on under the other
still_registered as (
    select person_key, max(snapshot_date) as last_registered_date
    from {{ ref('stg_police_population') }}
    where is_registered and person_key is not null
    group by person_key
),

departures as (
    select departed.*
    from {{ ref('stg_register_departures') }} as departed
    left join still_registered
        on departed.person_key = still_registered.person_key
    where still_registered.last_registered_date is null
        or still_registered.last_registered_date <= departed.left_date
),

known_items as (
    select
        item_code,
        {{ zhili_arg_max('item_name', 'valid_from_month') }} as item_name,
        {{ zhili_arg_max('item_category', 'valid_from_month') }} as item_category,
        {{ zhili_arg_max('scored_on', 'valid_from_month') }} as scored_on
    from items
    group by item_code
),

with_item as (
    select
        entries.*,
        items.item_version_id,
        items.item_points,
        items.monthly_limit,
        items.valid_from_month as item_valid_from_month,
        items.valid_to_month as item_valid_to_month
    from entries
    left join items
        on entries.item_code = items.item_code
        and items.valid_from_month <= entries.occurred_month
        and (items.valid_to_month is null or entries.occurred_month < items.valid_to_month)
    -- versions do not overlap (stg_credit_items bounds each by the next); keep one should a list disagree
    qualify row_number() over (partition by entries.entry_id order by items.valid_from_month desc nulls last) = 1
),

subjects as (
    select
        with_item.*,
        known_items.item_name,
        known_items.item_category,
        coalesce(known_items.scored_on, case when with_item.member_person_key is null
            and with_item.member_name_masked is null then '家庭' else '个人' end) as scored_on,
        known_items.item_code is not null as is_item_known,
        -- who earned or lost the points: the member for a 个人 item (by person key, else by the masked name
        -- within the household), the household for a 家庭 item
        case
            when coalesce(known_items.scored_on, '个人') = '家庭' or (with_item.member_person_key is null
                and with_item.member_name_masked is null) then 'household:' || with_item.community_household_key
            when with_item.member_person_key is not null then 'person:' || with_item.member_person_key
            else 'member:' || with_item.community_household_key || ':' || with_item.member_name_masked
        end as subject_key
    from with_item
    left join known_items
        on with_item.item_code = known_items.item_code
),

flagged as (
    select
        subjects.*,
        row_number() over (
            partition by subjects.subject_key, subjects.item_code, subjects.occurred_month
            order by subjects.occurred_date nulls last, subjects.reviewed_at nulls last, subjects.entry_id nulls last
        ) as use_in_month,
        count(*) over (
            partition by subjects.subject_key, subjects.item_code, subjects.occurred_month
        ) as uses_in_month,
        row_number() over (
            partition by subjects.subject_key, subjects.item_code, subjects.occurred_date
            order by subjects.reviewed_at nulls last, subjects.entry_id nulls last
        ) as copy_no,
        first_value(subjects.entry_id) over (
            partition by subjects.subject_key, subjects.item_code, subjects.occurred_date
            order by subjects.reviewed_at nulls last, subjects.entry_id nulls last
        ) as first_entry_id,
        departures.left_date as member_left_date,
        departures.left_status as member_left_status
    from subjects
    left join departures
        on subjects.member_person_key = departures.person_key
),

final as (
    select
        -- ids
        entry_id,
        community_household_key,
        head_person_key,
        member_person_key,
        subject_key,
        item_code,
        item_version_id,
        -- the deed
        occurred_date,
        occurred_month,
        community_code,
        item_name,
        item_category,
        scored_on,
        review_status,
        reviewed_at,
        is_approved,
        points,
        item_points,
        case when is_approved then points else 0 end as points_counted,
        monthly_limit,
        cast(use_in_month as bigint) as use_in_month,
        uses_in_month,
        -- what is wrong with it
        is_item_known,
        item_version_id is not null as is_item_in_force,
        is_item_known and item_version_id is null as is_outside_validity,
        item_points is not null and points <> item_points as is_points_different,
        monthly_limit is not null and use_in_month > monthly_limit as is_over_limit,
        copy_no > 1 as is_repeat_entry,
        case when copy_no > 1 then first_entry_id end as repeat_of_entry_id,
        member_left_date,
        member_left_status,
        coalesce(member_left_date < occurred_date, false) as is_after_member_left,
        -- who (masked display forms only)
        head_id_status,
        head_id_masked,
        head_name_masked,
        member_id_status,
        member_id_masked,
        member_name_masked,
        has_proof,
        version_count,
        -- provenance
        record_locator,
        delivered_date,
        file,
        record_no
    from flagged
)

select * from final
