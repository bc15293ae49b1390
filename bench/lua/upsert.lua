-- Create-or-update of one record: every other request a new app id, the others an update of a stored one.
local headers = with_auth({["Content-Type"] = "application/json"})
local counter = 0

request = function()
   counter = counter + 1
   local id
   if counter % 2 == 0 then
      id = stored_id()
   else
      id = "new-" .. run_tag .. "-" .. tid .. "-" .. counter
   end
   return wrk.format("POST", group_path, headers, '{"people":' .. person(id, counter) .. '}')
end
