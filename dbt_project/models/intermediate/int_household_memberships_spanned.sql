{#- One row per membership spell: a person (person_key, else the register's 人员编号 when the person has no
    key) listed in a 户号 household in an unbroken run of the snapshots that carry household columns.

    valid_from is the first snapshot of the run; valid_to the day the register says the person left (迁出,
    死亡, 注销 with its 状态变更日期) or else the first household snapshot no longer listing them; null while
    the latest snapshot still lists them as 在册. A person entered twice in the register (two 人员编号, one
    person after linkage) is one member: spells are built per resolved person, not per register row. A
    person who moves to another 户号 (a household that splits) ends one spell and starts another, so the
    new household is followed from the first week it appears and the old one keeps its history.

    Built from the register's versions (ingestion.versions), not from its weekly rows: a version is listed,
    unchanged, in every snapshot from its valid_from up to its valid_to, so it stands for a run of household
    snapshot numbers (int_household_snapshots). A member's versions in a household cut that run into
    segments over which the same versions are listed; a segment is what a week was (a 在册 row wins over a
    departed one, the duplicate entries of one person collapse), and a spell is an unbroken run of 在册
    segments. At 1M residents that is about a million versions instead of 53 million weekly rows. -#}
with

versions as (
    select * from {{ ref('stg_police_population_versions') }}
    where household_key is not null
        and source_person_id is not null
),

snapshots as (
    select * from {{ ref('int_household_snapshots') }}
),

-- only the register's records can match its versions' locators
resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
    where feed = 'police_population'
),

-- the last household snapshot before each date a version stops being listed
last_before as (
    select ends.valid_to, max(snapshots.snapshot_no) as last_no
    from (select distinct valid_to from versions where valid_to is not null) as ends
    inner join snapshots
        on snapshots.snapshot_date < ends.valid_to
    group by ends.valid_to
),

-- each version: the household snapshot numbers it is listed in, first_no..last_no
placed as (
    select
        versions.household_key,
        versions.source_person_id,
        versions.person_key as version_person_key,
        versions.relation_to_head,
        versions.is_relation_known,
        versions.household_no_masked,
        coalesce(versions.person_status, '在册') = '在册' as is_registered,
        versions.status_changed_date,
        versions.valid_from,
        {{ record_locator('versions.') }} as version_record_locator,
        first_snapshot.snapshot_no as first_no,
        coalesce(last_before.last_no, (select max(snapshot_no) from snapshots)) as last_no
    from versions
    inner join snapshots as first_snapshot
        on versions.valid_from = first_snapshot.snapshot_date
    left join last_before
        on versions.valid_to = last_before.valid_to
),

-- who a 人员编号 is: linkage's person for its latest version (the register spells a record alike every week);
-- the version's own key when linkage has none
register_entries as (
    select
        source_person_id,
        {{ zhili_arg_max_tuple('version_record_locator', ['valid_from', 'version_record_locator']) }}
            as record_locator,
        {{ zhili_arg_max_tuple('version_person_key', ['valid_from', 'version_record_locator']) }}
            as own_person_key
    from placed
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
        placed.*,
        coalesce(entry_person.person_key, 'register:' || placed.source_person_id) as member_id,
        entry_person.person_key
    from placed
    left join entry_person
        on placed.source_person_id = entry_person.source_person_id
),

-- where the set of a member's versions listed in a household changes: a version's first number, the one
-- after its last
bounds as (
    select household_key, member_id, first_no as bound_no from listed
    union
    select household_key, member_id, last_no + 1 as bound_no from listed
),

segments as (
    select
        household_key,
        member_id,
        bound_no as first_no,
        lead(bound_no) over (partition by household_key, member_id order by bound_no) - 1 as last_no
    from bounds
),

-- one row per member and segment, as a week was: duplicate register entries collapse; a 在册 row wins over a
-- departed one. A segment no version covers (the member was not listed) has no row.
segment_listed as (
    select
        segments.household_key,
        segments.member_id,
        segments.first_no,
        segments.last_no,
        max(listed.person_key) as person_key,
        min(listed.source_person_id) as source_person_id,
        -- a 在册 row's relation; between two such rows (two register entries), the greater relation, not row order
        {{ zhili_arg_max_tuple('listed.relation_to_head',
            ['case when listed.is_registered then 1 else 0 end', 'listed.relation_to_head']) }}
            as relation_to_head,
        bool_or(coalesce(listed.is_relation_known, false)) as is_relation_known,
        max(listed.household_no_masked) as household_no_masked,
        bool_or(listed.is_registered) as is_registered,
        min(case when not listed.is_registered then listed.status_changed_date end) as left_date
    from segments
    inner join listed
        on segments.household_key = listed.household_key
        and segments.member_id = listed.member_id
        and listed.first_no <= segments.first_no
        and listed.last_no >= segments.last_no
    where segments.last_no is not null
    group by segments.household_key, segments.member_id, segments.first_no, segments.last_no
),

member_segments as (
    select
        segment_listed.*,
        case
            when lag(last_no) over (partition by household_key, member_id order by first_no) = first_no - 1
                then 0
            else 1
        end as starts_island
    from segment_listed
    where is_registered
),

islands as (
    select
        member_segments.*,
        sum(starts_island) over (
            partition by household_key, member_id order by first_no rows between unbounded preceding and current row
        ) as island
    from member_segments
),

-- the register keeps a departed person listed with their status for a few weeks: that says when they left
departed as (
    select household_key, member_id, first_no, left_date from segment_listed where not is_registered
),

spells as (
    select
        household_key,
        member_id,
        island,
        max(person_key) as person_key,
        min(source_person_id) as source_person_id,
        {{ zhili_arg_max('relation_to_head', 'last_no') }} as relation_to_head,
        {{ zhili_arg_max('is_relation_known', 'last_no') }} as is_relation_known,
        {{ zhili_arg_max('household_no_masked', 'last_no') }} as household_no_masked,
        min(first_no) as first_no,
        max(last_no) as last_snapshot_no
    from islands
    group by household_key, member_id, island
),

final as (
    select
        -- ids
        {{ dbt.concat(['spells.household_key', "'|'", 'spells.member_id', "'|'",
            'cast(first_snapshot.snapshot_date as ' ~ dbt.type_string() ~ ')']) }} as membership_key,
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
        first_snapshot.snapshot_date as valid_from,
        case
            when last_snapshot.next_snapshot_date is null then null
            else coalesce(departed.left_date, last_snapshot.next_snapshot_date)
        end as valid_to,
        last_snapshot.snapshot_date as last_listed_date,
        last_snapshot.next_snapshot_date is null as is_current
    from spells
    inner join snapshots as first_snapshot
        on spells.first_no = first_snapshot.snapshot_no
    inner join snapshots as last_snapshot
        on spells.last_snapshot_no = last_snapshot.snapshot_no
    left join departed
        on spells.household_key = departed.household_key
        and spells.member_id = departed.member_id
        and departed.first_no = spells.last_snapshot_no + 1
)

select * from final
