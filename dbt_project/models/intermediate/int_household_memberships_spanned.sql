{#- One row per membership spell: a person (person_key, else the register's 人员编号 when the person has no
    key) listed in a 户号 household in an unbroken run of the snapshots that carry household columns.

    valid_from is the first snapshot of the run; valid_to the day the register says the person left (迁出,
    死亡, 注销 with its 状态变更日期) or else the first household snapshot no longer listing them; null while
    the latest snapshot still lists them as 在册. A person entered twice in the register (two 人员编号, one
    person after linkage) is one member: spells are built per resolved person, not per register row. A
    person who moves to another 户号 (a household that splits) ends one spell and starts another, so the
    new household is followed from the first week it appears and the old one keeps its history. -#}
with

rows as (
    select * from {{ ref('stg_register_households') }}
),

resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
),

-- the snapshots that carry household columns, numbered: a run is consecutive numbers
snapshots as (
    select
        snapshot_date,
        row_number() over (order by snapshot_date) as snapshot_no,
        lead(snapshot_date) over (order by snapshot_date) as next_snapshot_date
    from (select distinct snapshot_date from rows) as dates
),

-- who a 人员编号 is: linkage's person for its latest row (the register spells a record alike every week); two
-- rows of one snapshot are told apart by their locator, not by row order
register_entries as (
    select
        source_person_id,
        {{ zhili_arg_max_tuple('version_record_locator', ['snapshot_date', 'version_record_locator']) }}
            as record_locator,
        {{ zhili_arg_max_tuple('person_key', ['snapshot_date', 'version_record_locator']) }} as own_person_key
    from rows
    group by source_person_id
),

entry_person as (
    select
        register_entries.source_person_id,
        coalesce(resolved.person_key, register_entries.own_person_key) as person_key
    from register_entries
    left join resolved
        on register_entries.record_locator = resolved.record_locator
),

listed as (
    select
        rows.household_key,
        coalesce(entry_person.person_key, 'register:' || rows.source_person_id) as member_id,
        entry_person.person_key,
        rows.source_person_id,
        rows.snapshot_date,
        snapshots.snapshot_no,
        rows.relation_to_head,
        rows.is_relation_known,
        rows.household_no_masked,
        rows.is_registered,
        rows.status_changed_date
    from rows
    inner join snapshots
        on rows.snapshot_date = snapshots.snapshot_date
    left join entry_person
        on rows.source_person_id = entry_person.source_person_id
),

-- one row per member and week (duplicate register entries collapse); a 在册 row wins over a departed one
weekly as (
    select
        household_key,
        member_id,
        snapshot_no,
        snapshot_date,
        max(person_key) as person_key,
        min(source_person_id) as source_person_id,
        -- a 在册 row's relation; between two such rows (two register entries), the greater relation, not row order
        {{ zhili_arg_max_tuple('relation_to_head', ['case when is_registered then 1 else 0 end', 'relation_to_head']) }}
            as relation_to_head,
        bool_or(coalesce(is_relation_known, false)) as is_relation_known,
        max(household_no_masked) as household_no_masked,
        bool_or(is_registered) as is_registered,
        min(case when not is_registered then status_changed_date end) as left_date
    from listed
    group by household_key, member_id, snapshot_no, snapshot_date
),

member_weeks as (
    select * from weekly where is_registered
),

islands as (
    select
        member_weeks.*,
        snapshot_no - row_number() over (
            partition by household_key, member_id order by snapshot_no
        ) as island
    from member_weeks
),

-- the register keeps a departed person listed with their status for a few weeks: that says when they left
departed as (
    select household_key, member_id, snapshot_no, left_date from weekly where not is_registered
),

spells as (
    select
        household_key,
        member_id,
        island,
        max(person_key) as person_key,
        min(source_person_id) as source_person_id,
        {{ zhili_arg_max('relation_to_head', 'snapshot_no') }} as relation_to_head,
        {{ zhili_arg_max('is_relation_known', 'snapshot_no') }} as is_relation_known,
        {{ zhili_arg_max('household_no_masked', 'snapshot_no') }} as household_no_masked,
        min(snapshot_date) as valid_from,
        max(snapshot_no) as last_snapshot_no,
        max(snapshot_date) as last_listed_date
    from islands
    group by household_key, member_id, island
),

final as (
    select
        -- ids
        {{ dbt.concat(['spells.household_key', "'|'", 'spells.member_id', "'|'",
            'cast(spells.valid_from as ' ~ dbt.type_string() ~ ')']) }} as membership_key,
        spells.household_key,
        spells.member_id,
        spells.person_key,
        spells.source_person_id,
        -- the member
        spells.relation_to_head,
        coalesce(spells.is_relation_known, false) as is_relation_known,
        spells.relation_to_head = '户主' as is_head,
        spells.household_no_masked,
        -- dates
        spells.valid_from,
        case
            when next_snapshot.snapshot_date is null then null
            else coalesce(departed.left_date, next_snapshot.snapshot_date)
        end as valid_to,
        spells.last_listed_date,
        next_snapshot.snapshot_date is null as is_current
    from spells
    left join snapshots as next_snapshot
        on next_snapshot.snapshot_no = spells.last_snapshot_no + 1
    left join departed
        on spells.household_key = departed.household_key
        and spells.member_id = departed.member_id
        and departed.snapshot_no = spells.last_snapshot_no + 1
)

select * from final
