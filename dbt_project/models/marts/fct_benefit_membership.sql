{#- One row per person x programme x roll month in which the person is on the
    roll, plus one exit row in the first roll month after the person's last.
    Months are compared only with the previous month in which that
    programme's sheet was delivered: a month lacking a sheet says nothing. -#}
with

-- the person a roll row belongs to is the resolved one (int_persons_resolved: valid IDs and, once
-- linkage has run, Excel-damaged, typo'd and foreign IDs too), not only the row's own valid-ID key
resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
    where feed = 'civil_affairs' and person_key is not null
),

rolls as (
    select
        roll_rows.programme,
        roll_rows.month_date,
        roll_rows.monthly_amount,
        coalesce(resolved.person_key, roll_rows.person_key) as person_key
    from {{ ref('stg_civil_affairs') }} as roll_rows
    left join resolved
        on roll_rows.record_locator = resolved.record_locator
    where coalesce(resolved.person_key, roll_rows.person_key) is not null
),

programmes as (
    select * from {{ ref('benefit_programmes') }}
),

roll_months as (
    select
        programme,
        month_date,
        lag(month_date) over (partition by programme order by month_date nulls last) as previous_month_date
    from (select distinct programme, month_date from {{ ref('stg_civil_affairs') }}) as months
),

members as (
    select
        person_key,
        programme,
        month_date,
        sum(monthly_amount) as monthly_amount,
        count(*) as roll_row_count
    from rolls
    group by person_key, programme, month_date
),

on_roll as (
    select
        members.person_key,
        members.programme,
        members.month_date,
        roll_months.previous_month_date,
        true as is_member,
        roll_months.previous_month_date is not null and previous_members.person_key is null as is_entry,
        false as is_exit,
        members.monthly_amount,
        members.roll_row_count
    from members
    inner join roll_months
        on members.programme = roll_months.programme
        and members.month_date = roll_months.month_date
    left join members as previous_members
        on members.person_key = previous_members.person_key
        and members.programme = previous_members.programme
        and roll_months.previous_month_date = previous_members.month_date
),

exits as (
    select
        previous_members.person_key,
        previous_members.programme,
        roll_months.month_date,
        roll_months.previous_month_date,
        false as is_member,
        false as is_entry,
        true as is_exit,
        cast(null as {{ dbt.type_float() }}) as monthly_amount,
        0 as roll_row_count
    from members as previous_members
    inner join roll_months
        on previous_members.programme = roll_months.programme
        and previous_members.month_date = roll_months.previous_month_date
    left join members
        on previous_members.person_key = members.person_key
        and previous_members.programme = members.programme
        and roll_months.month_date = members.month_date
    where members.person_key is null
),

unioned as (
    select * from on_roll
    union all
    select * from exits
),

final as (
    select
        -- ids
        {{ dbt.concat(['unioned.person_key', "'|'", 'unioned.programme', "'|'", 'cast(unioned.month_date as ' ~ dbt.type_string() ~ ')']) }} as membership_key,
        unioned.person_key,
        unioned.programme,
        programmes.programme_name_zh,
        programmes.programme_name_en,
        -- month
        unioned.month_date,
        unioned.previous_month_date,
        -- membership
        unioned.is_member,
        unioned.is_entry,
        unioned.is_exit,
        unioned.monthly_amount,
        unioned.roll_row_count
    from unioned
    left join programmes
        on unioned.programme = programmes.programme
)

select * from final
